import Foundation

/// What the artifact metadata records about the compiling machine (variant choices are
/// host-specific; the weights are not).
enum HostInfo {
    static let cpuFeatures: [String] = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        let flags = Set(line.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        return ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "neon"].filter(flags.contains)
    }()

    static let cores = ProcessInfo.processInfo.activeProcessorCount
}
