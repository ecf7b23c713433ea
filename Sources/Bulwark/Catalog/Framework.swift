import Foundation
import HTTPServer
import Postgres

public enum Principle: String, Sendable, CaseIterable {
    case integrateDefensively = "integrate_defensively"
    case testCompletely = "test_completely"
    case deployPessimistically = "deploy_pessimistically"
    case runCautiously = "run_cautiously"
    case observeObsessively = "observe_obsessively"
    case recoverUrgently = "recover_urgently"
    case updateFrequently = "update_frequently"
    case governResilience = "govern_resilience"
}

public enum Severity: String, Sendable, CaseIterable {
    case critical, high, medium, low
}

public struct EvidenceDemand: Sendable, Equatable {
    public var required: Bool
    public var kinds: [String]
    public var maxAgeDays: Int?

    var json: JSON {
        .object([
            ("required", .bool(required)), ("kinds", .array(kinds.map { .string($0) })),
            ("max_age_days", .int(maxAgeDays)),
        ])
    }
}

public struct Mapping: Sendable, Equatable {
    public var framework: String
    public var ref: String
    var json: JSON { .object([("framework", .string(framework)), ("ref", .string(ref))]) }
}

public struct Requirement: Sendable, Equatable {
    public var ref: String
    public var title: String
    public var description: String
    public var principle: Principle
    public var severity: Severity
    public var weight: Double
    public var mustPass: Bool
    public var evidence: EvidenceDemand
    public var remediation: String
    public var mappings: [Mapping]

    /// Exactly the importable shape.
    var json: JSON {
        .object([
            ("ref", .string(ref)), ("title", .string(title)), ("description", .string(description)),
            ("principle", .string(principle.rawValue)), ("severity", .string(severity.rawValue)),
            ("weight", .number(weight)),
            ("must_pass", .bool(mustPass)), ("evidence", evidence.json), ("remediation", .string(remediation)),
            ("mappings", .array(mappings.map(\.json))),
        ])
    }
}

/// A catalog as imported and exported.
public struct FrameworkDocument: Sendable, Equatable {
    public var key: String
    public var name: String
    public var version: String
    public var description: String
    public var requirements: [Requirement]

    var json: JSON {
        .object([
            ("key", .string(key)), ("name", .string(name)), ("version", .string(version)),
            ("description", .string(description)), ("requirements", .array(requirements.map(\.json))),
        ])
    }
}

public struct FrameworkSummary: Sendable {
    public var id: UUID
    public var key: String
    public var name: String
    public var version: String
    public var description: String
    public var requirementCount: Int
    public var createdAt: Date

    var json: JSON {
        .object([
            ("id", .uuid(id)), ("key", .string(key)), ("name", .string(name)), ("version", .string(version)),
            ("description", .string(description)), ("requirement_count", .int(requirementCount)),
            ("created_at", .time(createdAt)),
        ])
    }
}

/// Validates an imported catalog. Every problem carries its path (`requirements[3].severity`); the detail
/// names the first.
enum FrameworkInput {

    static func read(_ body: [(String, JSON)]) throws -> FrameworkDocument {
        let r = FieldReader(body)
        r.rejectUnknown(["key", "name", "version", "description", "requirements"])
        let key = r.string("key", length: 1...64)
        if let k = key.value, !Validate.slug(k) {
            r.fail("key", "must be lower-case letters, digits, '.', '_' or '-' (e.g. resilience-v1)")
        }
        let name = r.string("name", length: 1...200)
        let version = r.string("version", length: 1...50)
        let description = r.string("description", nullable: true, length: 0...5000, multiline: true)
        for (k, present) in [("key", key.isPresent), ("name", name.isPresent), ("version", version.isPresent)]
        where !present {
            r.fail(k, "is required")
        }
        var seen = Set<String>()
        let requirements = r.array("requirements", maxItems: 2000) { json, path, parent in
            requirement(json, path, parent, seen: &seen)
        }
        if !requirements.isPresent { r.fail("requirements", "is required") }
        if let list = requirements.value, list.isEmpty { r.fail("requirements", "must not be empty") }
        if !r.errors.isEmpty {
            throw APIError.validation(r.errors, detail: "\(r.errors[0].field): \(r.errors[0].message)")
        }
        return FrameworkDocument(
            key: key.value ?? "", name: name.value ?? "", version: version.value ?? "",
            description: description.value ?? "", requirements: requirements.value ?? [])
    }

    private static func requirement(_ json: JSON, _ path: String, _ parent: FieldReader, seen: inout Set<String>)
        -> Requirement?
    {
        guard case .object(let pairs) = json else {
            parent.absorb([FieldError(path, "must be an object")])
            return nil
        }
        let r = FieldReader(pairs, path: path)
        r.rejectUnknown([
            "ref", "title", "description", "principle", "severity", "weight", "must_pass", "evidence", "remediation",
            "mappings",
        ])
        let ref = r.string("ref", length: 1...64)
        if let v = ref.value {
            if !Validate.ref(v) {
                r.fail("ref", "must be letters, digits, '.', '_' or '-'")
            } else if !seen.insert(v).inserted {
                r.fail("ref", "repeats \(v)")
            }
        }
        let title = r.string("title", length: 1...300)
        let principle = r.enumeration("principle", Principle.self)
        let severity = r.enumeration("severity", Severity.self)
        for (k, present) in [
            ("ref", ref.isPresent), ("title", title.isPresent), ("principle", principle.isPresent),
            ("severity", severity.isPresent),
        ] where !present {
            r.fail(k, "is required")
        }
        let description = r.string("description", nullable: true, length: 0...5000, multiline: true)
        let weight = r.weight("weight")
        let mustPass = r.bool("must_pass")
        let remediation = r.string("remediation", nullable: true, length: 0...10000, multiline: true)
        var evidence = EvidenceDemand(required: false, kinds: [], maxAgeDays: nil)
        switch r.object(
            "evidence", nullable: true,
            read: { e -> EvidenceDemand? in
                e.rejectUnknown(["required", "kinds", "max_age_days"])
                let required = e.bool("required")
                let kinds = e.array("kinds", maxItems: 20) { json, path, reader -> String? in
                    guard case .string(let s) = json, Validate.slug(s) else {
                        reader.absorb([FieldError(path, "must be an evidence kind such as dr_test_report")])
                        return nil
                    }
                    return s
                }
                let age = e.integer("max_age_days", nullable: true, range: 1...3650)
                return EvidenceDemand(
                    required: required.value ?? false, kinds: kinds.value ?? [], maxAgeDays: age.value)
            })
        {
        case .value(let v): evidence = v
        default: break
        }
        let mappings = r.objects("mappings", maxItems: 50) { mr -> Mapping? in
            mr.rejectUnknown(["framework", "ref"])
            let f = mr.string("framework", length: 1...64)
            let ref = mr.string("ref", length: 1...64)
            if !f.isPresent { mr.fail("framework", "is required") }
            if !ref.isPresent { mr.fail("ref", "is required") }
            guard let fv = f.value, let rv = ref.value else { return nil }
            return Mapping(framework: fv, ref: rv)
        }
        parent.absorb(r.errors)
        guard r.errors.isEmpty, let refValue = ref.value, let t = title.value, let p = principle.value,
            let s = severity.value
        else { return nil }
        return Requirement(
            ref: refValue, title: t, description: description.value ?? "", principle: p, severity: s, weight: weight,
            mustPass: mustPass.value ?? false, evidence: evidence, remediation: remediation.value ?? "",
            mappings: mappings.value ?? [])
    }
}
