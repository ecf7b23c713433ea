import Bulwark
import Foundation
import Testing

@Suite struct JSONParserTests {
    func parse(_ s: String) throws -> JSON { try JSONParser.parse(Array(s.utf8)) }

    @Test func parsesEveryKind() throws {
        let v = try parse(#" {"a": [1, -2.5e2, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\udee1", "o": {}} "#)
        #expect(v["a"] == .array([.number(1), .number(-250), .bool(true), .bool(false), .null]))
        #expect(v["s"] == .string("x\"\\/\né🛡"))
        #expect(v["o"] == .object([]))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", ".5", "+1", "tru", "nul", "\"abc", "\"\\x\"", "\"\\ud800\"",
        "{a: 1}", "[1 2]", "1e999", "\"tab\there\"", "{} {}",
    ])
    func rejectsMalformedText(text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// A repeated key keeps its last value at the place it was first seen, in small objects and in the
    /// large ones that are indexed (a hundred thousand keys parse without a quadratic scan).
    @Test func repeatedKeysKeepTheLastValueInObjectsOfAnySize() throws {
        #expect(try parse(#"{"a": 1, "b": 2, "a": 3}"#) == .object([("a", .number(3)), ("b", .number(2))]))
        let keys = (0..<100_000).map { "\"k\($0)\": \($0)" }
        let text = "{" + keys.joined(separator: ",") + #", "k5": "five", "k99999": "last", "k20": "twenty"}"#
        guard case .object(let pairs) = try parse(text) else {
            Issue.record("not an object")
            return
        }
        #expect(pairs.count == 100_000)
        #expect(pairs[5] == ("k5", .string("five")))
        #expect(pairs[20] == ("k20", .string("twenty")))
        #expect(pairs[99_999] == ("k99999", .string("last")))
        #expect(pairs[17] == ("k17", .number(17)))
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xff, 0xfe, 0x22]) }
    }

    @Test func refusesDeepNestingInsteadOfRecursingForever() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        _ = try parse(fine)
    }

    @Test func writerEscapesAndRoundTrips() throws {
        let original: JSON = .object([
            ("k", .string("quote \" back \\ nl \n ctl \u{01} é")), ("n", .number(3)), ("f", .number(0.5)), ("z", .null),
        ])
        #expect(try JSONParser.parse(original.bytes) == original)
    }
}

@Suite struct CanonicalUUIDTests {
    @Test func parsesWhatFoundationParses() {
        for _ in 0..<200 {
            let u = UUID()
            #expect(UUID(canonical: u.uuidString) == u)
            #expect(UUID(canonical: u.uuidString.lowercased()) == u)
        }
        #expect(
            UUID(canonical: "00000000-0000-0000-0000-000000000000")
                == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        #expect(
            UUID(canonical: "ffffffff-FFFF-ffff-FFFF-ffffffffffff")
                == UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"))
    }

    @Test func refusesEverythingElse() {
        let bad = [
            "", "nope", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
            "00000000_0000-0000-0000-000000000000", "0000000g-0000-0000-0000-000000000000",
            "{00000000-0000-0000-0000-000000000000}", "000000000000-0000-0000-0000-00000000",
            "00000000-0000-0000-0000-00000000000é", " 0000000-0000-0000-0000-000000000000",
        ]
        for b in bad {
            #expect(UUID(canonical: b) == nil, "\(b)")
        }
    }
}
