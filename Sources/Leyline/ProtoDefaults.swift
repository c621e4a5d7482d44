/// Proto3 JSON reading rule: an absent (or `null`) field takes its default value. Every
/// Leyline message decodes through this, so clients may omit zero values; output always
/// carries every field (see `00-contracts.md` §1).
extension KeyedDecodingContainer {
    func field<T: Decodable>(_ key: Key, or defaultValue: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? defaultValue()
    }
}
