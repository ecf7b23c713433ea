import Crypto
import Foundation
import HTTPServer

public enum Role: String, Sendable, CaseIterable {
    case admin
    case procurement
    case riskAnalyst = "risk_analyst"
    case auditor
    case vendor
}

/// Who is calling: the authenticated user behind a token.
public struct Principal: Sendable {
    public let userID: UUID
    public let role: Role
    /// Set for vendor users: the one vendor they may see.
    public let vendorID: UUID?
    public let tokenID: UUID
    /// The per-token rate limiter's key, formatted once per lookup rather than once per request.
    public let rateKey: String

    public init(userID: UUID, role: Role, vendorID: UUID?, tokenID: UUID) {
        self.userID = userID
        self.role = role
        self.vendorID = vendorID
        self.tokenID = tokenID
        rateKey = tokenID.uuidString
    }
}

/// What a caller may see of vendor-owned data. Every store query on vendor data takes one.
public enum VendorScope: Sendable {
    case all
    case vendor(UUID)

    init(_ principal: Principal) {
        if principal.role == .vendor, let v = principal.vendorID {
            self = .vendor(v)
        } else if principal.role == .vendor {
            self = .vendor(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))  // sees nothing
        } else {
            self = .all
        }
    }
}

enum PrincipalKey: ContextKey { typealias Value = Principal }
/// True when the request's principal came from `PrincipalCache` (its token is re-checked in the transaction).
enum CachedPrincipalKey: ContextKey { typealias Value = Bool }
/// Work that must commit together with the request's own changes: it runs inside the request's transaction,
/// after the handler answered and before COMMIT (Idempotency stores the response this way).
enum BeforeCommitKey: ContextKey { typealias Value = @Sendable (Response) throws -> Void }

extension Context {
    /// The authenticated caller; only `/v1` routes have one.
    public func principal() throws -> Principal {
        guard let p = self[PrincipalKey.self] else { throw APIError.unauthorized() }
        return p
    }
}

/// An API token's text: `bwk_` followed by 43 URL-safe characters (32 random bytes). The first 12 of those
/// are stored in the clear for lookup; the whole token only as its SHA-256.
public struct TokenSecret: Sendable {
    public static let marker = "bwk_"
    static let prefixLength = 12

    public let text: String

    public init(text: String) { self.text = text }

    public static func generate() -> TokenSecret { TokenSecret(text: marker + randomToken(byteCount: 32)) }

    /// The lookup prefix, or nil when the text is not shaped like a token.
    public var lookupPrefix: String? {
        guard text.hasPrefix(TokenSecret.marker) else { return nil }
        let body = text.dropFirst(TokenSecret.marker.count)
        guard body.utf8.count == 43, Encoding.base64URLDecode(String(body)) != nil else { return nil }
        return String(body.prefix(TokenSecret.prefixLength))
    }

    public var hash: [UInt8] { SHA256.hash(text) }
}
