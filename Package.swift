// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Bulwark",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bulwark", targets: ["bulwark"])
    ],
    targets: [
        // C system libraries (Debian packages, found through pkg-config).
        .systemLibrary(
            name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"]), .brew(["libpq"])]),
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"]), .brew(["libmicrohttpd"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),

        // Swift wrappers: each is the only importer of its C library.
        .target(name: "Crypto", dependencies: ["COpenSSL"]),
        .target(name: "Postgres", dependencies: ["CLibPQ", "Crypto"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD"]),
        // Pure scoring: no SQL, no HTTP, no clock.
        .target(name: "Scoring", linkerSettings: [.linkedLibrary("m")]),

        // The product.
        .target(name: "Bulwark", dependencies: ["Postgres", "HTTPServer", "Crypto", "Scoring"]),
        .executableTarget(name: "bulwark", dependencies: ["Bulwark"]),
        // Benchmarks (bench/README.md): the scoring engine alone.
        .executableTarget(name: "scoring-bench", dependencies: ["Scoring"], path: "bench/scoring-bench"),

        .testTarget(name: "CryptoTests", dependencies: ["Crypto"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring"]),
        .testTarget(name: "BulwarkTests", dependencies: ["Bulwark", "Postgres", "HTTPServer", "Crypto"]),
    ],
    swiftLanguageModes: [.v6]
)
