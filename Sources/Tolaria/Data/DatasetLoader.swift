import EsperJSON
import Foundation

/// Turns a `DatasetSpec` into examples: generates synthetic tasks, reads the bundled digits,
/// or parses CSV/IDX files under `directory` (never outside it: run configs come from HTTP
/// clients). Failures are `RunConfigError`s naming the field and, for CSV, the line.
public struct DatasetLoader: Sendable {
    /// Root of the files a run config may name.
    public let directory: String
    /// Largest file (after decompression) a run may load.
    public var maxFileBytes = 512 << 20

    public init(directory: String) { self.directory = directory }

    /// The bundled handwritten digits CSV (gzip).
    public static var digitsPath: String? {
        Bundle.module.path(forResource: "digits.csv", ofType: "gz")
    }

    public func load(_ spec: DatasetSpec, runSeed: UInt64) throws(RunConfigError) -> Dataset {
        if let task = spec.kind.syntheticTask {
            var parameters = SyntheticTask.Parameters()
            parameters.samples = spec.samples ?? 1000
            parameters.noise = spec.noise ?? task.defaultNoise
            parameters.classes = spec.classes ?? 3
            parameters.features = spec.features ?? 2
            parameters.cells = spec.cells ?? 4
            parameters.seed = spec.seed ?? runSeed
            return task.generate(parameters)
        }
        switch spec.kind {
        case .digits:
            guard let path = DatasetLoader.digitsPath else {
                throw problem("dataset.kind", "the bundled digits data set is missing from this build")
            }
            return try csv(at: path, field: "dataset.kind", name: "digits", parser: CSVParser())
        case .csv:
            var parser = CSVParser()
            parser.hasHeader = spec.hasHeader ?? false
            if let column = spec.labelColumn {
                switch column {
                case .index(let index): parser.labelColumn = .index(index)
                case .name(let name): parser.labelColumn = .name(name)
                }
            }
            if let delimiter = spec.delimiter?.utf8.first { parser.delimiter = delimiter }
            let path = try resolve(spec.path ?? "", field: "dataset.path")
            return try csv(at: path, field: "dataset.path", name: spec.path ?? "csv", parser: parser)
        case .idx:
            let imagesPath = try resolve(spec.images ?? "", field: "dataset.images")
            let labelsPath = try resolve(spec.labels ?? "", field: "dataset.labels")
            do {
                let images = try IDXParser.parse(read(imagesPath, field: "dataset.images"), what: "images")
                let labels = try IDXParser.parse(read(labelsPath, field: "dataset.labels"), what: "labels")
                return try IDXParser.dataset(images: images, labels: labels, name: spec.images ?? "idx", maxClasses: 1000)
            } catch let error as IDXParser.FormatError {
                throw problem(error.description.hasPrefix("labels") ? "dataset.labels" : "dataset.images", error.description)
            } catch let error as RunConfigError {
                throw error
            } catch {
                throw problem("dataset", "\(error)")
            }
        default:
            throw problem("dataset.kind", "unsupported")
        }
    }

    private func csv(at path: String, field: String, name: String, parser: CSVParser) throws(RunConfigError) -> Dataset {
        let bytes = try read(path, field: field)
        do {
            return try parser.parse(bytes, name: name)
        } catch {
            throw RunConfigError(problems: error.messages.map { JSONFieldProblem(field: field, message: $0) })
        }
    }

    private func read(_ path: String, field: String) throws(RunConfigError) -> [UInt8] {
        do {
            return try CompressedFile.read(path, limit: maxFileBytes)
        } catch {
            throw problem(field, error.description)
        }
    }

    /// The absolute path of a config path, which must name an existing regular file inside
    /// the datasets directory (symbolic links resolved, so a link cannot escape it).
    private func resolve(_ relative: String, field: String) throws(RunConfigError) -> String {
        let root = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: root + "/" + relative).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(root + "/") else {
            throw problem(field, "'\(relative)' leaves the datasets directory")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw problem(field, "no file '\(relative)' in the datasets directory")
        }
        return resolved
    }

    private func problem(_ field: String, _ message: String) -> RunConfigError {
        RunConfigError(problems: [JSONFieldProblem(field: field, message: message)])
    }
}
