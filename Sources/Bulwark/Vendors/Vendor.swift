import Foundation
import HTTPServer
import Postgres

public enum Tier: String, Sendable, CaseIterable {
    case critical, high, medium, low
}

public enum VendorStatus: String, Sendable, CaseIterable {
    case prospect, active, offboarded
}

public struct Contact: Sendable, Equatable {
    public var name: String
    public var email: String
    public var role: String?
    public var primary: Bool

    var json: JSON {
        .object([
            ("name", .string(name)), ("email", .string(email)), ("role", .string(role)), ("primary", .bool(primary)),
        ])
    }
}

public struct Contract: Sendable, Equatable {
    public var startDate: CalendarDate?
    public var renewalDate: CalendarDate?
    public var noticeDays: Int?
    public var autoRenew: Bool = false

    var json: JSON {
        .object([
            ("start_date", .string(startDate?.description)), ("renewal_date", .string(renewalDate?.description)),
            ("notice_days", .int(noticeDays)), ("auto_renew", .bool(autoRenew)),
        ])
    }
}

/// Everything a client may set on a vendor, validated.
public struct VendorFields: Sendable, Equatable {
    public var name: String
    public var legalName: String?
    public var website: String?
    public var country: String?
    public var services: [String] = []
    public var tier: Tier
    public var status: VendorStatus = .prospect
    public var ownerUserID: UUID?
    public var contacts: [Contact] = []
    public var tags: [String] = []
    public var contract = Contract()

    /// The changeable fields as JSON, for audit diffs.
    var auditJSON: [(String, JSON)] {
        [
            ("name", .string(name)), ("legal_name", .string(legalName)), ("website", .string(website)),
            ("country", .string(country)), ("services", .array(services.map { .string($0) })),
            ("tier", .string(tier.rawValue)),
            ("status", .string(status.rawValue)), ("owner_user_id", .uuid(ownerUserID)),
            ("contacts", .array(contacts.map(\.json))), ("tags", .array(tags.map { .string($0) })),
            ("contract", contract.json),
        ]
    }
}

public struct Vendor: Sendable {
    public var id: UUID
    public var fields: VendorFields
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?
    public var latestAssessment: LatestAssessment?

    public var etag: String { "\"v\(version)\"" }

    public var json: JSON {
        var pairs: [(String, JSON)] = [("id", .uuid(id))]
        pairs += fields.auditJSON
        pairs += [("created_at", .time(createdAt)), ("updated_at", .time(updatedAt)), ("deleted_at", .time(deletedAt))]
        pairs.append(("latest_assessment", latestAssessment?.json ?? .null))
        return .object(pairs)
    }
}

/// The vendor's latest assessment, for comparing vendors: score, rating and certification are those
/// recorded when it was approved (null until then).
public struct LatestAssessment: Sendable {
    public var id: UUID
    public var status: String
    public var score: Double?
    public var rating: String?
    public var certification: String?
    public var approvedAt: Date?

    var json: JSON {
        .object([
            ("id", .uuid(id)), ("status", .string(status)), ("score", score.map { .number($0) } ?? .null),
            ("rating", .string(rating)), ("certification", .string(certification)), ("approved_at", .time(approvedAt)),
        ])
    }
}

/// Reads and validates vendor bodies: the whole profile on create, a merge patch on update.
enum VendorInput {
    static let fieldNames: Set<String> = [
        "name", "legal_name", "website", "country", "services", "tier", "status", "owner_user_id", "contacts", "tags",
        "contract",
    ]

    /// A new vendor from a POST body.
    static func create(_ body: [(String, JSON)]) throws -> VendorFields {
        let r = FieldReader(body)
        r.rejectUnknown(fieldNames)
        let name = r.string("name", length: 1...200)
        let tier = r.enumeration("tier", Tier.self)
        if !name.isPresent { r.fail("name", "is required") }
        if !tier.isPresent { r.fail("tier", "is required") }
        var fields = VendorFields(name: name.value ?? "", tier: tier.value ?? .medium)
        let status = r.enumeration("status", VendorStatus.self, allowed: [.prospect, .active])
        if let s = status.value { fields.status = s }
        apply(r, to: &fields, existing: nil)
        try r.throwIfInvalid()
        return fields
    }

    /// The vendor after a merge patch (RFC 7396): fields present replace, null clears, contract merges.
    static func patch(_ body: [(String, JSON)], onto current: VendorFields) throws -> VendorFields {
        let r = FieldReader(body)
        r.rejectUnknown(fieldNames)
        var fields = current
        if let name = r.string("name", length: 1...200).value { fields.name = name }
        if let tier = r.enumeration("tier", Tier.self).value { fields.tier = tier }
        if let status = r.enumeration("status", VendorStatus.self).value { fields.status = status }
        apply(r, to: &fields, existing: current)
        try r.throwIfInvalid()
        return fields
    }

    private static func apply(_ r: FieldReader, to fields: inout VendorFields, existing: VendorFields?) {
        func set<T>(_ f: Field<T>, _ keyPath: WritableKeyPath<VendorFields, T?>) {
            switch f {
            case .value(let v): fields[keyPath: keyPath] = v
            case .null: fields[keyPath: keyPath] = nil
            case .absent, .invalid: break
            }
        }
        set(r.string("legal_name", nullable: true, length: 1...300), \.legalName)
        let website = r.string("website", nullable: true, length: 1...2048)
        if let w = website.value, !Validate.webURL(w) {
            r.fail("website", "must be an http or https URL")
        } else {
            set(website, \.website)
        }
        let country = r.string("country", nullable: true, length: 2...2)
        if let c = country.value {
            if Countries.alpha2.contains(c.uppercased()) {
                fields.country = c.uppercased()
            } else {
                r.fail("country", "must be an ISO 3166-1 alpha-2 code, such as DE or US")
            }
        } else if case .null = country {
            fields.country = nil
        }
        set(r.uuid("owner_user_id", nullable: true), \.ownerUserID)
        if let services = r.strings("services", maxItems: 50, length: 1...200).value { fields.services = services }
        if let tags = r.strings("tags", maxItems: 50, length: 1...64).value {
            var seen = Set<String>()
            fields.tags = tags.filter { seen.insert($0).inserted }
        }
        if let contacts = r.objects("contacts", maxItems: 50, item: contact).value {
            if contacts.filter(\.primary).count > 1 {
                r.fail("contacts", "at most one contact may be primary")
            } else {
                fields.contacts = contacts
            }
        }
        switch r.object("contract", nullable: true, read: { readContract($0, base: fields.contract) }) {
        case .value(let c): fields.contract = c
        case .null: fields.contract = Contract()
        case .absent, .invalid: break
        }
        if let start = fields.contract.startDate, let renewal = fields.contract.renewalDate, renewal < start {
            r.fail("contract.renewal_date", "must not be before contract.start_date")
        }
    }

    private static func contact(_ r: FieldReader) -> Contact? {
        r.rejectUnknown(["name", "email", "role", "primary"])
        let name = r.string("name", length: 1...200)
        let email = r.string("email", length: 3...254)
        if !name.isPresent { r.fail("name", "is required") }
        if !email.isPresent { r.fail("email", "is required") }
        if let e = email.value, !Validate.email(e) { r.fail("email", "must be an email address") }
        let role = r.string("role", nullable: true, length: 1...100)
        let primary = r.bool("primary")
        guard let n = name.value, let e = email.value else { return nil }
        return Contact(name: n, email: e, role: role.value, primary: primary.value ?? false)
    }

    private static func readContract(_ r: FieldReader, base: Contract) -> Contract? {
        r.rejectUnknown(["start_date", "renewal_date", "notice_days", "auto_renew"])
        var c = base
        switch r.date("start_date", nullable: true) {
        case .value(let d): c.startDate = d
        case .null: c.startDate = nil
        default: break
        }
        switch r.date("renewal_date", nullable: true) {
        case .value(let d): c.renewalDate = d
        case .null: c.renewalDate = nil
        default: break
        }
        switch r.integer("notice_days", nullable: true, range: 0...3650) {
        case .value(let n): c.noticeDays = n
        case .null: c.noticeDays = nil
        default: break
        }
        if let a = r.bool("auto_renew").value { c.autoRenew = a }
        return c
    }
}
