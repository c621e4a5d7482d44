// EsperServer: configuration (flags, environment, .env) and the wiring of every service
// into one running server.
import Foundation

/// Reads a `.env` file: `KEY=VALUE` lines, `#` comments, an optional `export ` prefix, and
/// values optionally in single or double quotes. A line that is none of these is an error
/// naming the line, so a typo is not silently ignored.
enum DotEnv {
    static func load(path: String) throws(ConfigurationError) -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(variable: ".env", message: "\(path) is not readable UTF-8 text")
        }
        return try parse(text, source: path)
    }

    static func parse(_ text: String, source: String) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst("export ".count)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(variable: ".env", message: "\(source) line \(index + 1): expected KEY=VALUE")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !(key.first?.isNumber ?? true) else {
                throw ConfigurationError(variable: ".env", message: "\(source) line \(index + 1): '\(key)' is not a variable name")
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if let quote = value.first, quote == "\"" || quote == "'" {
                // A quoted value ends at its closing quote; only a comment may follow.
                let rest = value.dropFirst()
                guard let close = rest.firstIndex(of: quote) else {
                    throw ConfigurationError(variable: ".env", message: "\(source) line \(index + 1): unterminated quote")
                }
                let after = rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces)
                guard after.isEmpty || after.hasPrefix("#") else {
                    throw ConfigurationError(variable: ".env", message: "\(source) line \(index + 1): text after the closing quote")
                }
                value = String(rest[..<close])
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            values[key] = value
        }
        return values
    }
}
