import EsperTestSupport
import Leyline
import Testing

@Suite struct SigningTests {
    let secret = "0123456789abcdef0123456789abcdef"

    @Test func signaturesAreBase64HMACSHA256OverTheExactBytes() throws {
        let signer = try LeylineSigner(secret: "key")
        // RFC 4231-style known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        let signature = signer.sign(Array("The quick brown fox jumps over the lazy dog".utf8))
        #expect(signature == "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=")
        #expect(signature.utf8.count == 44)
    }

    @Test func verificationRefusesTamperingWrongKeysAndMissingSignatures() throws {
        let signer = try LeylineSigner(secret: secret)
        let bytes = try LeylineCodec.encode(Fixtures.envelope(.systemState(Fixtures.systemState)))
        let signature = signer.sign(bytes)
        #expect(signer.verify(bytes, signature: signature, keyId: signer.current.id) == nil)
        #expect(signer.verify(bytes, signature: signature, keyId: nil) == nil)
        var tampered = bytes
        tampered[tampered.count / 2] ^= 1
        #expect(signer.verify(tampered, signature: signature, keyId: signer.current.id) == .mismatch)
        let other = try LeylineSigner(secret: "another secret of at least 32 bytes!")
        #expect(other.verify(bytes, signature: signature, keyId: nil) == .mismatch)
        #expect(other.verify(bytes, signature: signature, keyId: signer.current.id) == .unknownKey)
        #expect(signer.verify(bytes, signature: nil, keyId: nil) == .missingSignature)
        #expect(signer.verify(bytes, signature: "", keyId: nil) == .missingSignature)
        #expect(signer.verify(bytes, signature: String(signature.dropLast()), keyId: nil) == .mismatch)
    }

    @Test func rotationKeepsOldSignaturesValid() throws {
        let old = try LeylineSigner(secret: secret)
        let rotated = try LeylineSigner(secret: "the next secret, also 32 bytes long", previousSecrets: [secret])
        let bytes = Array("payload".utf8)
        #expect(rotated.verify(bytes, signature: old.sign(bytes), keyId: old.current.id) == nil)
        #expect(old.verify(bytes, signature: rotated.sign(bytes), keyId: rotated.current.id) == .unknownKey)
        #expect(rotated.current.id != old.current.id && rotated.current.id.count == 8)
    }

    @Test func emptySecretIsAnError() {
        #expect(throws: LeylineSigner.SigningError.self) { _ = try LeylineSigner(secret: "") }
    }

    @Test func constantTimeCompare() {
        #expect(LeylineSigner.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!LeylineSigner.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!LeylineSigner.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!LeylineSigner.constantTimeEqual([], Array("a".utf8)))
    }
}
