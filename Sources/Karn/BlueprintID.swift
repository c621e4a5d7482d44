/// The one blueprint-id rule: `BP` and three digits (`BP001`), the catalog's numbering of its
/// templates. The catalog checks its rows against it and the API refuses any other id (400)
/// before a lookup, since ids reach file paths and keys.
public enum BlueprintID {
    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        return bytes.count == 5 && bytes[0] == UInt8(ascii: "B") && bytes[1] == UInt8(ascii: "P")
            && bytes[2...].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// The id of the catalog's `number`th template (1-based): `BP001`.
    public static func make(_ number: Int) -> String {
        let digits = String(number)
        return "BP" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
