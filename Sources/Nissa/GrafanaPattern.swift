/// A target or payload value as the Grafana JSON datasource sends it: the plugin interpolates
/// dashboard variables with Grafana's `regex` format (`.` and `-` escaped as `\.` and `\-`, a
/// multi-value as `(a|b)`, "All" as the variable's all value, `.*` on Esper's dashboard). So a
/// value matches a name when it equals it, or when it is a regular expression that matches the
/// whole name. Text that is not a valid expression only matches itself.
///
/// Most values are one name, escaped or not (`tolaria\.training\.loss`, `run\-1`): those are
/// matched character by character without the regex engine, which a query would otherwise
/// run once per series.
public struct GrafanaPattern: CustomStringConvertible {
    public let text: String
    /// The expression as literal characters and `.` wildcards (nil: it needs the regex engine).
    private let simple: [Character?]?
    private let matchesEverything: Bool
    private let regex: Regex<AnyRegexOutput>?

    public init(_ text: String) {
        self.text = text
        simple = GrafanaPattern.simpleForm(text)
        matchesEverything = text == ".*"
        regex = simple == nil && !matchesEverything ? try? Regex<AnyRegexOutput>(text) : nil
    }

    public var description: String { text }

    public func matches(_ value: String) -> Bool {
        if value == text || matchesEverything { return true }
        if let simple {
            guard value.count == simple.count else { return false }
            return zip(value, simple).allSatisfy { character, expected in expected.map { $0 == character } ?? true }
        }
        guard let regex else { return false }
        return (try? regex.wholeMatch(in: value)) != nil
    }

    /// `.` as a wildcard (nil), `\x` for punctuation x as x, other characters as themselves;
    /// nil when any other regex syntax appears.
    static func simpleForm(_ text: String) -> [Character?]? {
        var tokens: [Character?] = []
        var escaping = false
        for character in text {
            if escaping {
                guard !(character.isLetter || character.isNumber) else { return nil }  // \d, \w, …
                tokens.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "." {
                tokens.append(nil)
            } else if "^$|?*+()[]{}".contains(character) {
                return nil
            } else {
                tokens.append(character)
            }
        }
        return escaping ? nil : tokens
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
