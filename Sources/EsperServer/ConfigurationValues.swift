import Foundation

/// Typed reads of the merged variables, each failing with the variable's name.
struct ConfigurationValues {
    let values: [String: String]

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

    /// An http(s) URL with a host; nil when unset or blank.
    func url(_ name: String) throws(ConfigurationError) -> String? {
        guard let text = values[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw ConfigurationError(variable: name, message: "'\(text)' is not an http:// or https:// URL with a host")
        }
        return text
    }
}
