import EsperTestSupport
import Foundation
import Oona
import Testing

@testable import EsperServer

@Suite struct ConfigurationTests {
    let directory = TemporaryDirectory("esper-config")

    func resolve(_ environment: [String: String], flags: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        try Configuration.resolve(
            flags: flags, environment: ["ESPER_DATA_DIR": directory.path + "/var"].merging(environment) { $1 },
            workingDirectory: directory.path)
    }

    @Test func defaults() throws {
        let config = try resolve([:])
        #expect(config.http.host == "127.0.0.1")
        #expect(config.http.port == 8080)
        #expect(config.http.maxBodyBytes == 1 << 20)
        #expect(config.redisURL == nil)
        #expect(config.streams.normal == "oona.normal")
        #expect(config.leylineSecret == nil)
        #expect(config.tamiyoSettings().latencyTriggers)
        #expect(try resolve(["TAMIYO_LATENCY_TRIGGERS": "off"]).tamiyoSettings().latencyTriggers == false)
    }

    @Test func everyBadValueNamesItsVariable() {
        let cases: [(String, String)] = [
            ("ESPER_PORT", "abc"), ("ESPER_PORT", "70000"), ("ESPER_PORT", "-1"), ("ESPER_HOST", " "),
            ("ESPER_HTTP_THREADS", "0"), ("ESPER_HTTP_MAX_BODY_BYTES", "ten"), ("ESPER_ACCESS_LOG", "maybe"),
            ("ESPER_LOG_LEVEL", "loud"), ("REDIS_URL", "http://x"), ("REDIS_URL", "redis://h:99999"),
            ("OONA_NORMAL_STREAM", "has space"), ("ESPER_LEYLINE_SECRET", ""), ("ESPER_LEYLINE_SECRET", "short"),
            ("ESPER_REDIS_CONFIG", "/nonexistent.conf"), ("ESPER_HTTP_CONNECTION_MEMORY_BYTES", "100"),
            ("TAMIYO_LATENCY_TRIGGERS", "sometimes"),
        ]
        for (name, value) in cases {
            do {
                _ = try resolve([name: value])
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect(error.variable == name, "\(name)=\(value) → \(error)")
            }
        }
        #expect(throws: ConfigurationError.self) { try resolve(["OONA_NORMAL_STREAM": "same", "OONA_POLICY_STREAM": "same"]) }
    }

    @Test func dataDirectoryThatIsAFileIsRejected() throws {
        let file = directory.path + "/plain-file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        #expect(throws: ConfigurationError(variable: "ESPER_DATA_DIR", message: "\(file) exists and is not a directory")) {
            try resolve(["ESPER_DATA_DIR": file])
        }
    }

    @Test func flagsBeatEnvironmentWhichBeatsDotEnv() throws {
        try "# comment\nexport ESPER_PORT=9001\nESPER_HOST='0.0.0.0'\nOONA_POLICY_STREAM=\"p.stream\" # trailing\n"
            .write(toFile: directory.path + "/.env", atomically: true, encoding: .utf8)
        let fromFile = try resolve([:])
        #expect(fromFile.http.port == 9001)
        #expect(fromFile.http.host == "0.0.0.0")
        #expect(fromFile.streams.policy == "p.stream")
        #expect(try resolve(["ESPER_PORT": "9002"]).http.port == 9002)
        #expect(try resolve(["ESPER_PORT": "9002"], flags: ["ESPER_PORT": "9003"]).http.port == 9003)
    }

    @Test func malformedDotEnvNamesTheLine() throws {
        try "ESPER_PORT=1\nthis is not an assignment\n".write(toFile: directory.path + "/.env", atomically: true, encoding: .utf8)
        do {
            _ = try resolve([:])
            Issue.record("accepted a bad .env")
        } catch {
            #expect(error.variable == ".env")
            #expect(error.message.contains("line 2"))
        }
    }

    @Test func redisURLForms() throws {
        #expect(
            try resolve(["REDIS_URL": "redis://:pw@cache:6380/2"]).redisURL
                == RedisEndpointFixture.tcp("cache", 6380, database: 2, password: "pw"))
        #expect(try resolve(["REDIS_URL": "unix:///run/redis.sock?db=1"]).redisURL?.description == "unix:///run/redis.sock?db=1")
        #expect(try resolve(["REDIS_URL": "redis://[::1]:7000"]).redisURL?.description == "redis://[::1]:7000")
        #expect(try resolve(["REDIS_URL": "redis://:secret@h"]).redisURL?.description == "redis://:***@h:6379")
    }

    @Test func everyVariableIsDocumentedInTheReadme() throws {
        let readme = try String(contentsOfFile: packageRoot() + "/README.md", encoding: .utf8)
        for variable in Configuration.variables {
            #expect(readme.contains("`\(variable.name)`"), "README lacks \(variable.name)")
        }
    }

    /// The README's server table lists what the code reads and nothing else: every row is a
    /// Configuration variable or a variable some source file reads with getenv (test hooks).
    @Test func theReadmeTableListsNothingTheCodeDoesNotRead() throws {
        let readme = try String(contentsOfFile: packageRoot() + "/README.md", encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Configuration").dropFirst().first)
        let serverTable = section.components(separatedBy: "The tools around the server")[0]
        let rows = Set(
            serverTable.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("| `") else { return nil }
                return line.dropFirst(3).split(separator: "`").first.map(String.init)
            })
        var read = Set(Configuration.variables.map(\.name))
        let sources = packageRoot() + "/Sources"
        let files = try #require(FileManager.default.enumerator(atPath: sources))
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for piece in text.components(separatedBy: "getenv(\"").dropFirst() {
                if let name = piece.split(separator: "\"").first { read.insert(String(name)) }
            }
        }
        #expect(
            rows == read, "in the README only: \(rows.subtracting(read).sorted()); read but not listed: \(read.subtracting(rows).sorted())")
    }
}

enum RedisEndpointFixture {
    static func tcp(_ host: String, _ port: Int, database: Int, password: String?) -> RedisEndpoint {
        RedisEndpoint(address: .tcp(host: host, port: port), database: database, password: password)
    }
}

/// The package root (tests run from it under `swift test`; fall back to this file's location).
func packageRoot() -> String {
    let cwd = FileManager.default.currentDirectoryPath
    if FileManager.default.fileExists(atPath: cwd + "/Package.swift") { return cwd }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
