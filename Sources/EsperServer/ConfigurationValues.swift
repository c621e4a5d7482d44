import Foundation

/// The merged raw settings (flags over environment over `.env`), read through typed accessors
/// that throw a `ConfigurationError` naming the variable — one place for the parsing rules.
struct ConfigurationValues {
    let values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    /// An integer within `range`, or nil when unset.
    func integer(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(variable: name, message: "'\(text)' is not an integer")
        }
        guard range.contains(value) else {
            throw ConfigurationError(variable: name, message: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A non-blank string, or nil when unset.
    func nonEmpty(_ name: String) throws(ConfigurationError) -> String? {
        guard let text = values[name] else { return nil }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigurationError(variable: name, message: "must not be empty")
        }
        return text
    }

    /// `on`/`off` (also true/false, 1/0, yes/no), or nil when unset.
    func onOff(_ name: String) throws(ConfigurationError) -> Bool? {
        guard let text = values[name] else { return nil }
        switch text.lowercased() {
        case "on", "true", "1", "yes": return true
        case "off", "false", "0", "no": return false
        default: throw ConfigurationError(variable: name, message: "'\(text)' must be on or off")
        }
    }

    /// A finite number within `range`, or nil when unset.
    func number(_ name: String, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let text = values[name] else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw ConfigurationError(variable: name, message: "'\(text)' is not a number")
        }
        guard range.contains(value) else {
            throw ConfigurationError(variable: name, message: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// An http(s) URL with a host, or nil when unset or blank.
    func url(_ name: String) throws(ConfigurationError) -> String? {
        guard let text = values[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError(variable: name, message: "'\(text)' is not an http:// or https:// URL with a host")
        }
        return text
    }
}
