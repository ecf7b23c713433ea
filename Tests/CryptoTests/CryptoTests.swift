import Crypto
import Testing

@Suite struct CryptoTests {
    @Test func sha256KnownVectors() {
        #expect(Encoding.hex(SHA256.hash("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Encoding.hex(SHA256.hash("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func streamingEqualsOneShot() {
        let data = (0..<10_000).map { UInt8($0 % 251) }
        let h = SHA256()
        var i = 0
        while i < data.count {
            h.update(data[i..<min(i + 777, data.count)])
            i += 777
        }
        #expect(h.finish() == SHA256.hash(data))
    }

    @Test func hmacRFC4231Case2() {
        let mac = hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Encoding.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func randomBytesDiffer() {
        let a = secureRandomBytes(32)
        let b = secureRandomBytes(32)
        #expect(a.count == 32)
        #expect(a != b)
        #expect(randomToken().count == 43)
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5, 31, 32, 33])
    func base64URLRoundTrip(length: Int) {
        let bytes = (0..<length).map { UInt8(($0 * 37 + 11) % 256) }
        let encoded = Encoding.base64URL(bytes)
        #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
        #expect(Encoding.base64URLDecode(encoded) == bytes)
    }

    @Test func base64URLRejectsGarbage() {
        #expect(Encoding.base64URLDecode("ab+c") == nil)
        #expect(Encoding.base64URLDecode("a") == nil)
        #expect(Encoding.base64URL(Array("hello".utf8)) == "aGVsbG8")
    }
}
