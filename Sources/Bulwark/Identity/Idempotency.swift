import Crypto
import Foundation
import HTTPServer
import Postgres

/// `Idempotency-Key` on POST: the first response is kept 24 hours per (user, key). A retry with the same
/// body gets it again with `Idempotent-Replayed: true`; the same key with another body is a 422; a retry
/// while the first is still running is a 409. The claim runs outside the request's transaction, so it is
/// visible to concurrent retries at once; the response is stored inside it (`BeforeCommitKey`).
enum Idempotency {
    static let retention: SQL = "interval '24 hours'"
    /// A claim older than this is taken to be from a request that died (a crashed process).
    static let abandoned: SQL = "interval '5 minutes'"

    static let middleware: Middleware = { request, context, next in
        guard request.method == "POST", let key = request.header("idempotency-key"),
            let principal = context[PrincipalKey.self]
        else { return try next(request, context) }
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw APIError.validation([FieldError("Idempotency-Key", "must be 1 to 255 visible ASCII characters")])
        }
        let db = try context.db()
        // A JSON body is hashed in canonical form (keys sorted), so a client that re-serializes the same
        // object in another key order is still sending the same request.
        let hash = SHA256()
        hash.update(request.method + " " + request.path + "\n")
        hash.update((try? JSONParser.parse(request.body))?.canonicalBytes ?? request.body)
        let requestHash = ByteA(hash.finish())

        if let stored = try claim(db, user: principal.userID, key: key, hash: requestHash) { return stored }
        let user = principal.userID
        let requestID = context.requestID
        // The stored response commits in the same transaction as what the request created: a crash can lose
        // both or neither, never leave a created resource behind a key that a retry would run again.
        context[BeforeCommitKey.self] = { response in
            guard case .bytes(let body) = response.body, response.status < 500 else { return }
            try store(db, user: user, key: key, hash: requestHash, response: response, body: body, requestID: requestID)
        }
        let response: Response
        do {
            response = try next(request, context)
        } catch {
            // Nothing was created: forget the key so the client can retry.
            forget(db, user: user, key: key, hash: requestHash)
            throw error
        }
        // A response that is not stored (a 5xx, a stream) frees the key.
        if case .bytes = response.body, response.status < 500 { return response }
        forget(db, user: user, key: key, hash: requestHash)
        return response
    }

    /// Frees this request's own claim (never a retry's that took the key over, nor a stored response).
    private static func forget(_ db: Connection, user: UUID, key: String, hash: ByteA) {
        _ = try? db.execute(
            """
            DELETE FROM idempotency_keys WHERE user_id = \(user) AND key = \(key) AND state <> 'done' \
            AND request_hash = \(hash)
            """)
    }

    private static func store(
        _ db: Connection, user: UUID, key: String, hash: ByteA, response: Response, body: [UInt8], requestID: String
    ) throws {
        var stored = response
        var storedBody = body
        if response.header("cache-control") == "no-store" {
            // A response that carries a secret (a new token) is never kept: a replay learns that the request
            // succeeded, but not the secret.
            stored = APIError.conflict(
                "The request with this Idempotency-Key succeeded; its response held a secret, which is shown only once."
            ).response(requestID: requestID)
            if case .bytes(let b) = stored.body { storedBody = b }
        }
        let headers = JSON.object(
            stored.headers.filter { $0.name.lowercased() != "x-request-id" }.map { ($0.name, .string($0.value)) })
        // Only this request's own claim: one that outlived the abandonment window may have been replaced by a
        // retry's, and then it must not commit at all (its changes roll back with this error).
        let updated = try db.execute(
            """
            UPDATE idempotency_keys SET state = 'done', response_status = \(stored.status), \
            response_headers = \(JSONB(utf8: headers.bytes)), response_body = \(ByteA(storedBody)), completed_at = now() \
            WHERE user_id = \(user) AND key = \(key) AND state = 'in_progress' AND request_hash = \(hash)
            """)
        if updated != 1 {
            throw APIError.conflict("This request's Idempotency-Key was taken over by a retry; check its outcome.")
        }
    }

    /// Claims the key for this request (nil: go ahead), or answers from what is stored.
    static func claim(_ db: Connection, user: UUID, key: String, hash: ByteA) throws -> Response? {
        for _ in 0..<2 {
            let inserted = try db.execute(
                """
                INSERT INTO idempotency_keys (user_id, key, request_hash, state) \
                VALUES (\(user), \(key), \(hash), 'in_progress') ON CONFLICT DO NOTHING
                """)
            if inserted == 1 {
                if Int.random(in: 0..<100) == 0 {
                    _ = try? db.execute("DELETE FROM idempotency_keys WHERE created_at < now() - \(retention)")
                }
                return nil
            }
            guard
                let row = try db.query(
                    """
                    SELECT request_hash, state, response_status, response_headers, response_body, \
                    created_at < now() - \(retention) AS expired, \
                    state = 'in_progress' AND created_at < now() - \(abandoned) AS abandoned \
                    FROM idempotency_keys WHERE user_id = \(user) AND key = \(key)
                    """
                ).first
            else { continue }  // deleted in between: try to claim again
            if try row.decode("expired", as: Bool.self) || row.decode("abandoned", as: Bool.self) {
                try db.execute("DELETE FROM idempotency_keys WHERE user_id = \(user) AND key = \(key)")
                continue
            }
            guard try row.decode("request_hash", as: ByteA.self) == hash else {
                throw APIError.validation(
                    [FieldError("Idempotency-Key", "was already used with a different request")],
                    detail: "This Idempotency-Key was already used with a different request body.")
            }
            guard try row.decode("state", as: String.self) == "done",
                let status = try row.decode("response_status", as: Int?.self)
            else {
                throw APIError.conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
            }
            var response = Response(
                status: status, body: .bytes(try row.decode("response_body", as: ByteA?.self)?.bytes ?? []))
            if let headers = try row.decode("response_headers", as: JSONB?.self),
                case .object(let pairs) = try JSONParser.parse(headers.utf8)
            {
                for case (let name, .string(let value)) in pairs { response.setHeader(name, value) }
            }
            response.setHeader("Idempotent-Replayed", "true")
            return response
        }
        throw APIError.conflict("The Idempotency-Key is contended; retry shortly.")
    }
}
