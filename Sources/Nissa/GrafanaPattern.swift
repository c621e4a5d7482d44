/// A target or payload value as the Grafana JSON datasource sends it: the plugin interpolates
/// dashboard variables with Grafana's `regex` format (`.` and `-` escaped as `\.` and `\-`, a
/// multi-value as `(a|b)`, "All" as the variable's all value, `.*` on Esper's dashboard). So a
/// value matches a name when it equals it, or when it is a regular expression that matches the
/// whole name. Text that is not a valid expression only matches itself.
public struct GrafanaPattern: CustomStringConvertible {
    public let text: String
    private let regex: Regex<AnyRegexOutput>?

    public init(_ text: String) {
        self.text = text
        regex = try? Regex<AnyRegexOutput>(text)
    }

    public var description: String { text }

    public func matches(_ value: String) -> Bool {
        if value == text { return true }
        guard let regex else { return false }
        return (try? regex.wholeMatch(in: value)) != nil
    }

    /// The text with regex escapes of punctuation removed (`nissa\.alerts` → `nissa.alerts`):
    /// the name a single escaped value stands for.
    public var unescaped: String {
        var result = ""
        var escaping = false
        for character in text {
            if escaping {
                if !(character.isLetter || character.isNumber) { result.append(character) } else { result += "\\\(character)" }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        if escaping { result.append("\\") }
        return result
    }
}
