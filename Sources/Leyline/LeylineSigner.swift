internal import COpenSSL

/// HMAC-SHA256 signing of bus entries. The key is the secret's UTF-8 bytes (not
/// hex-decoded); the signature is standard padded base64 (44 characters) of the MAC over the
/// exact stored envelope bytes. Verification compares in constant time.
///
/// Rotation: a signer holds the current key and optionally previous ones. Every key has an
/// id (the first 8 hex digits of SHA-256 of the key) that publishers store next to the
/// signature; verifiers pick the key by id, so an old key keeps verifying until it is
/// removed and a new one can be rolled out without dropping traffic.
public struct LeylineSigner: Sendable {
    public struct Key: Sendable {
        public let id: String
        let bytes: [UInt8]
        /// The keyed HMAC state, prepared once (signing is on the publish path).
        let prepared: PreparedMAC?

        public init(secret: String) throws(SigningError) {
            guard !secret.isEmpty else { throw SigningError(description: "signing secret missing: the key is empty") }
            bytes = Array(secret.utf8)
            id = Key.identifier(of: bytes)
            prepared = PreparedMAC(key: bytes)
        }

        static func identifier(of bytes: [UInt8]) -> String {
            var digest = [UInt8](repeating: 0, count: 32)
            bytes.withUnsafeBufferPointer { buffer in
                _ = digest.withUnsafeMutableBufferPointer { SHA256(buffer.baseAddress, buffer.count, $0.baseAddress) }
            }
            return digest.prefix(4).map { byte in
                let hex = Array("0123456789abcdef".utf8)
                return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }.joined()
        }
    }

    public struct SigningError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Why an entry failed verification.
    public enum Rejection: String, Sendable, Equatable {
        case missingSignature = "signature_missing"
        case unknownKey = "signature_unknown_key"
        case mismatch = "signature_invalid"
    }

    public let current: Key
    public let previous: [Key]

    public init(secret: String, previousSecrets: [String] = []) throws(SigningError) {
        current = try Key(secret: secret)
        var keys: [Key] = []
        for old in previousSecrets { keys.append(try Key(secret: old)) }
        previous = keys
    }

    /// Base64 HMAC-SHA256 of `bytes` under the current key.
    public func sign(_ bytes: [UInt8]) -> String {
        LeylineSigner.mac(bytes, key: current)
    }

    /// The same signature as ASCII bytes (what a stream entry stores; no String round trip).
    public func signatureBytes(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        if let prepared = current.prepared, prepared.sign(bytes, into: &out) { return Base64.encodeToBytes(out) }
        return Array(LeylineSigner.mac(bytes, key: current).utf8)
    }

    /// Length of a signature: base64 of 32 bytes.
    public static let signatureLength = 44

    /// The signature of `bytes` (as `signatureBytes`) written to `out`, which holds
    /// `signatureLength` bytes: no allocation (the publish path frames it straight into
    /// the RESP buffer).
    public func writeSignature(of bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) {
        guard let prepared = current.prepared else {
            let text = Array(LeylineSigner.mac(Array(bytes), key: current).utf8)
            out.update(from: text, count: LeylineSigner.signatureLength)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { mac in
            prepared.sign(bytes, into: mac.baseAddress!)
            Base64.encode(UnsafeBufferPointer(mac), to: out)
        }
    }

    /// Checks a signature. With a key id, only that key is tried; without one (entries from
    /// publishers that predate key ids), every key is.
    public func verify(_ bytes: [UInt8], signature: String?, keyId: String?) -> Rejection? {
        guard let signature, !signature.isEmpty else { return .missingSignature }
        let candidates: [Key]
        if let keyId, !keyId.isEmpty {
            let all = [current] + previous
            guard let key = all.first(where: { $0.id == keyId }) else { return .unknownKey }
            candidates = [key]
        } else {
            candidates = [current] + previous
        }
        var matched = false
        for key in candidates {
            // Every candidate is computed and compared in full: timing does not say which.
            if LeylineSigner.constantTimeEqual(Array(LeylineSigner.mac(bytes, key: key).utf8), Array(signature.utf8)) {
                matched = true
            }
        }
        return matched ? nil : .mismatch
    }

    static func mac(_ bytes: [UInt8], key: Key) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        if let prepared = key.prepared, prepared.sign(bytes, into: &out) { return Base64.encode(out) }
        let ok = key.bytes.withUnsafeBufferPointer { keyBuffer in
            bytes.withUnsafeBufferPointer { data in
                out.withUnsafeMutableBufferPointer {
                    esper_hmac_sha256(keyBuffer.baseAddress, Int32(keyBuffer.count), data.baseAddress, data.count, $0.baseAddress)
                }
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed inside libcrypto")
        return Base64.encode(out)
    }

    /// Equal length and equal bytes, examining every byte whatever the first difference.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let count = min(a.count, b.count)
        for i in 0..<count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

/// The HMAC key folded into SHA-256 states once (see `esper_hmac_sha256_prepare`); every
/// signature starts from a copy, so one value serves any number of threads.
struct PreparedMAC: @unchecked Sendable {
    private let state: esper_hmac_sha256_key

    init?(key: [UInt8]) {
        var state = esper_hmac_sha256_key()
        key.withUnsafeBufferPointer { esper_hmac_sha256_prepare(&state, $0.baseAddress, $0.count) }
        self.state = state
    }

    func sign(_ bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        withUnsafePointer(to: state) { esper_hmac_sha256_with($0, bytes.baseAddress, bytes.count, out) }
    }

    func sign(_ bytes: [UInt8], into out: inout [UInt8]) -> Bool {
        withUnsafePointer(to: state) { state in
            bytes.withUnsafeBufferPointer { data in
                out.withUnsafeMutableBufferPointer { esper_hmac_sha256_with(state, data.baseAddress, data.count, $0.baseAddress) }
            }
        }
        return true
    }
}
