import Foundation
import Glibc
import HTTPServer
import Postgres

/// The `bulwark` command line. Output for people goes to standard error; standard output carries only what
/// a script would capture (the token from `token create`).
public enum CLI {
    public static let usage = """
        Usage: bulwark <command> [options]

        Commands:
          serve                         Serve the API (/readyz answers 503 until migrations are current).
          migrate                       Apply pending schema migrations, then exit.
          token create --role ROLE --name NAME [--email EMAIL] [--vendor-id UUID] [--expires-in-days N] [--replace]
                                        Create an API token for the user with EMAIL (created if missing;
                                        default NAME@bulwark.invalid) and print only the token. --replace
                                        revokes that user's earlier live tokens of the same NAME.
          seed                          Add the demo vendor, the resilience-v1 catalog and the default
                                        questionnaire where missing (idempotent).
          audit verify                  Check the audit trail's hash chain; names the first broken row.
          help, --help                  Show this text.

        Configuration comes from the environment: DATABASE_URL (required), BULWARK_LISTEN (127.0.0.1:8080),
        BULWARK_THREADS (16), BULWARK_DB_POOL (= threads), BULWARK_DB_WAIT_MS (5000), BULWARK_DB_ROLE
        (bulwark_app), BULWARK_MAX_BODY_BYTES (1048576), BULWARK_CONNECTION_TIMEOUT (30),
        BULWARK_MAX_CONNECTIONS (10000), BULWARK_DRAIN_SECONDS (10), BULWARK_RATE_LIMIT (50),
        BULWARK_RATE_BURST (100), BULWARK_AUTH_FAILURES_PER_MINUTE (60), BULWARK_AUTH_FAILURE_BURST (20),
        BULWARK_LOG_LEVEL (info), BULWARK_HOME (folder holding schema/, openapi/ and catalog/).

        Exit codes: 0 success, 1 failure while running, 2 bad usage or configuration.
        """

    struct UsageError: Error, CustomStringConvertible { let description: String }

    /// Runs a command and returns the process exit code.
    public static func run(_ arguments: [String]) -> Int32 {
        guard let command = arguments.first else {
            err(usage)
            return 2
        }
        do {
            switch command {
            case "help", "--help", "-h":
                print(usage)
                return 0
            case "serve": return try serve()
            case "migrate": return try migrate()
            case "seed": return try seed()
            case "audit":
                guard arguments.count == 2, arguments[1] == "verify" else {
                    throw UsageError(description: "unknown command; try `audit verify`")
                }
                return try verifyAudit()
            case "token":
                guard arguments.count >= 2, arguments[1] == "create" else {
                    throw UsageError(
                        description: "unknown command `token \(arguments.dropFirst().first ?? "")`; try `token create`")
                }
                return try createToken(Array(arguments.dropFirst(2)))
            default:
                throw UsageError(description: "unknown command `\(command)`")
            }
        } catch let e as UsageError {
            err("bulwark: \(e.description)\n\n\(usage)")
            return 2
        } catch let e as Config.ConfigError {
            err("bulwark: configuration: \(e.description)")
            return 2
        } catch {
            err("bulwark: \(error)")
            return 1
        }
    }

    static func err(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    static func connect(_ config: Config) throws -> Connection {
        try Connection(ConnectionConfiguration(url: config.databaseURL))
    }

    static func migrate() throws -> Int32 {
        let config = try Config.fromEnvironment()
        let migrator = try Migrator(directory: config.home + "/schema")
        let db = try connect(config)
        let applied = try migrator.migrate(db) { m in err("applying migration \(m.version) \(m.name) …") }
        err(
            applied.isEmpty
                ? "schema is current (\(migrator.migrations.count) migrations)"
                : "applied \(applied.count) migration(s)")
        return 0
    }

    static func verifyAudit() throws -> Int32 {
        let config = try Config.fromEnvironment()
        let db = try connect(config)
        let result = try AuditStore().verify(db) { n in err("checked \(n) audit events …") }
        if let broken = result.firstBroken {
            err(
                "audit chain BROKEN at event \(broken.seq): \(broken.reason) (\(result.checked) events before it are intact)"
            )
            return 1
        }
        err("audit chain intact: \(result.checked) events")
        return 0
    }

    static func seed() throws -> Int32 {
        let config = try Config.fromEnvironment()
        let db = try connect(config)
        let inserted = try Seed.demo(db)
        err(inserted ? "added the demo vendor" : "the demo vendor is already there")
        let catalog = try Seed.catalog(db, home: config.home)
        err(catalog.framework ? "imported the resilience-v1 catalog" : "the resilience-v1 catalog is already there")
        err(
            catalog.questionnaire
                ? "published the Vendor Resilience Assessment questionnaire"
                : "the Vendor Resilience Assessment questionnaire is already there")
        return 0
    }

    static func createToken(_ args: [String]) throws -> Int32 {
        var options: [String: String] = [:]
        var i = 0
        while i < args.count {
            let key = args[i]
            if key == "--replace" {
                options["replace"] = "true"
                i += 1
                continue
            }
            guard key.hasPrefix("--"), i + 1 < args.count else {
                throw UsageError(description: "expected --option VALUE, got `\(key)`")
            }
            options[String(key.dropFirst(2))] = args[i + 1]
            i += 2
        }
        let known: Set<String> = ["role", "name", "email", "vendor-id", "expires-in-days", "replace"]
        if let unknown = options.keys.first(where: { !known.contains($0) }) {
            throw UsageError(description: "unknown option --\(unknown)")
        }
        guard let roleText = options["role"], let role = Role(rawValue: roleText) else {
            throw UsageError(
                description: "--role is required: one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let name = options["name"], !name.isEmpty, name.count <= 200 else {
            throw UsageError(description: "--name is required (1 to 200 characters)")
        }
        var vendorID: UUID?
        if let v = options["vendor-id"] {
            guard let id = UUID(uuidString: v) else { throw UsageError(description: "--vendor-id must be a UUID") }
            vendorID = id
        }
        if role == .vendor && vendorID == nil {
            throw UsageError(description: "--vendor-id is required for role vendor")
        }
        if role != .vendor && vendorID != nil { throw UsageError(description: "--vendor-id is only for role vendor") }
        var expires: Date?
        if let d = options["expires-in-days"] {
            guard let days = Int(d), (1...3650).contains(days) else {
                throw UsageError(description: "--expires-in-days must be a whole number from 1 to 3650")
            }
            expires = Date().addingTimeInterval(Double(days) * 86_400)
        }
        let slug = name.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        let email = options["email"] ?? "\(slug)@bulwark.invalid"
        guard Validate.email(email) else { throw UsageError(description: "--email is not an email address") }
        let config = try Config.fromEnvironment()
        let db = try connect(config)
        let cli = Actor(userID: nil, role: "cli", requestID: nil, clientAddress: nil)
        let secret = try db.transaction { tx -> TokenSecret in
            let user = try UserStore().findOrCreate(
                tx, email: email, name: name, role: role, vendorID: vendorID, actor: cli)
            if options["replace"] != nil {
                // `--replace`: the user's earlier live tokens of this name stop working (each revocation audited).
                let earlier = try tx.query(
                    "SELECT id FROM api_tokens WHERE user_id = \(user) AND name = \(name) AND revoked_at IS NULL"
                ).rows.map { try $0.decode("id", as: UUID.self) }
                for id in earlier { _ = try TokenStore().revoke(tx, id: id, actor: cli) }
            }
            let (tokenID, secret) = try TokenStore().create(tx, userID: user, name: name, expiresAt: expires)
            try AuditLog.record(
                tx, cli, action: "token.created",
                resourceType: "api_token", resourceID: tokenID.uuidString.lowercased(),
                changes: .object([("user_id", .uuid(user)), ("name", .string(name)), ("role", .string(role.rawValue))]))
            return secret
        }
        print(secret.text)
        return 0
    }

    /// The name of the session's role when row-level security would not apply to it, else nil.
    public static func bypassesRowLevelSecurity(_ db: Connection) throws -> String? {
        let row = try db.query(
            """
            SELECT current_user::text AS role, r.rolsuper OR r.rolbypassrls \
            OR coalesce(pg_has_role(current_user, c.relowner, 'USAGE'), false) AS bypass \
            FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('public.vendors') \
            WHERE r.rolname = current_user
            """
        ).first
        guard let row, try row.decode("bypass", as: Bool.self) else { return nil }
        return try row.decode("role", as: String.self)
    }

    static func serve() throws -> Int32 {
        let config = try Config.fromEnvironment()
        // Block the stop signals before any thread starts, so every thread inherits the mask and only
        // the main thread's sigwait receives them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        // Every connection is a file descriptor: take all the kernel allows this process.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let app = try App(config: config)
        // A session that the database refuses (no such BULWARK_DB_ROLE, say) is a configuration error: stop
        // now rather than answer every request with an error. An unreachable database is not: /readyz tells.
        do {
            let (status, bypass) = try app.pool.withConnection { db in
                (try app.migrator.status(db), try CLI.bypassesRowLevelSecurity(db))
            }
            if let bypass {
                throw Config.ConfigError(
                    description: """
                        the database role \(bypass) bypasses row-level security (a superuser, BYPASSRLS, or the \
                        tables' owner): set BULWARK_DB_ROLE to a role that does not (the migrations create bulwark_app)
                        """)
            }
            if !status.isCurrent {
                app.logger.warn(
                    "migrations are not current; run `bulwark migrate` (/readyz answers 503 until then)",
                    [("pending", .int(status.pending.count)), ("changed", .int(status.changed.count))])
            }
        } catch let error as PostgresError where error.isUnavailable {
            app.logger.warn("the database is unreachable for now; /readyz answers 503 until it is")
        } catch let error as PostgresError {
            throw Config.ConfigError(description: "the database refuses this service's sessions: \(error)")
        }
        let server = try app.serve()
        fflush(nil)
        var received: Int32 = 0
        sigwait(&signals, &received)
        app.logger.info("stopping", [("signal", .int(Int(received))), ("in_flight", .int(server.inFlight))])
        server.shutdown(drainSeconds: config.drainSeconds)
        app.pool.close()
        app.logger.info("stopped")
        return 0
    }
}

/// Demo data for `make run`.
public enum Seed {
    /// Adds the demo vendor unless a vendor of that name exists; true when it added it.
    public static func demo(_ db: Connection) throws -> Bool {
        try db.transaction { tx in try addDemo(tx) }
    }

    private static func addDemo(_ db: Connection) throws -> Bool {
        let added = try db.query(
            """
            INSERT INTO vendors (name, legal_name, website, country, services, tier, status, contacts, tags, \
            contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew) \
            SELECT 'Acme Cloud Payments (demo)', 'Acme Cloud Payments Ltd.', 'https://acme-payments.example', 'GB', \
            ARRAY['card processing', 'payouts'], 'critical', 'active', \
            '[{"name": "Dana Reyes", "email": "dana.reyes@acme-payments.example", "role": "CISO", "primary": true}]'::jsonb, \
            ARRAY['payments', 'demo'], DATE '2025-01-01', DATE '2027-01-01', 90, true \
            WHERE NOT EXISTS (SELECT 1 FROM vendors WHERE lower(name) = lower('Acme Cloud Payments (demo)')) \
            RETURNING id
            """
        ).first
        guard let added else { return false }
        let id: UUID = try added.decode("id")
        try AuditLog.record(
            db, Actor(userID: nil, role: "cli", requestID: nil, clientAddress: nil), action: "vendor.created",
            resourceType: "vendor", resourceID: id.uuidString.lowercased(),
            changes: .object([("name", .string("Acme Cloud Payments (demo)")), ("seeded", .bool(true))]))
        return true
    }
}

extension Seed {
    /// The default questionnaire's family: fixed, so seeding twice finds it.
    public static let defaultQuestionnaireFamily = UUID(uuidString: "5eed0000-0000-4000-8000-000000000001")!

    public struct SeedError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Imports catalog/resilience-v1.json and publishes catalog/vendor-resilience-assessment.json unless they
    /// are there already. Returns what it added.
    public static func catalog(_ db: Connection, home: String) throws -> (framework: Bool, questionnaire: Bool) {
        func load(_ name: String) throws -> [(String, JSON)] {
            guard let data = FileManager.default.contents(atPath: home + "/catalog/" + name) else {
                throw SeedError(description: "cannot read catalog/\(name) under \(home)")
            }
            guard case .object(let pairs) = try JSONParser.parse(Array(data)) else {
                throw SeedError(description: "catalog/\(name) is not a JSON object")
            }
            return pairs
        }
        return try db.transaction { tx in
            // Two seeders at once (parallel tests, two replicas) wait for each other here.
            try tx.query("SELECT pg_advisory_xact_lock(4242003)")
            let frameworks = FrameworkStore()
            let doc = try FrameworkInput.read(try load("resilience-v1.json"))
            var addedFramework = false
            let frameworkID: UUID
            if let existing = try frameworks.id(tx, key: doc.key, version: doc.version) {
                frameworkID = existing
            } else {
                frameworkID = try frameworks.importCatalog(tx, doc, actor: .system)
                addedFramework = true
            }
            let store = QuestionnaireStore()
            let present: Bool =
                try tx.query(
                    "SELECT EXISTS (SELECT 1 FROM questionnaires WHERE family_id = \(defaultQuestionnaireFamily)) AS present"
                ).first?.decode("present") ?? false
            if present { return (addedFramework, false) }
            var body = try load("vendor-resilience-assessment.json").filter { $0.0 != "framework_key" }
            body.append(("framework_id", .string(frameworkID.uuidString)))
            let content = try QuestionnaireInput.create(body, refs: try frameworks.refs(tx, frameworkID: frameworkID))
            let draft = try store.createDraft(tx, content, familyID: defaultQuestionnaireFamily, actor: .system)
            _ = try store.publish(tx, id: draft.id, actor: .system)
            return (addedFramework, true)
        }
    }
}
