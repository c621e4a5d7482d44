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

    /// The bundled MNIST-1D CSV (gzip, one header line).
    public static var mnist1dPath: String? {
        Bundle.module.path(forResource: "mnist1d.csv", ofType: "gz")
    }

    /// The data set of `spec` with its fixed test split, if it names one, as its last rows
    /// (`Dataset.testRows`; a second file is appended after the first).
    public func load(_ spec: DatasetSpec, runSeed: UInt64) throws(RunConfigError) -> Dataset {
        var data = try loadRows(spec, runSeed: runSeed)
        if spec.kind == .mnist1d {
            guard data.count == 5000 else { throw problem("dataset.kind", "the bundled MNIST-1D has \(data.count) rows, not 5000") }
            data.testRows = DatasetSpec.mnist1dTestRows
        } else if let rows = spec.testRows {
            guard rows < data.count else {
                throw problem("dataset.test_rows", "\(rows) test rows leave no training row (the data set has \(data.count))")
            }
            data.testRows = rows
        } else if spec.testPath != nil || spec.testImages != nil {
            var testSpec = spec
            testSpec.path = spec.testPath
            testSpec.images = spec.testImages
            testSpec.labels = spec.testLabels
            let test = try loadRows(testSpec, runSeed: runSeed, test: true)
            guard test.featureCount == data.featureCount else {
                throw problem(
                    spec.kind == .csv ? "dataset.test_path" : "dataset.test_images",
                    "the test file has \(test.featureCount) features, the training file \(data.featureCount)")
            }
            data = Dataset(
                name: data.name, features: data.features + test.features, labels: data.labels + test.labels,
                featureCount: data.featureCount, classCount: max(data.classCount, test.classCount))
            data.testRows = test.count
        }
        return data
    }

    private func loadRows(_ spec: DatasetSpec, runSeed: UInt64, test: Bool = false) throws(RunConfigError) -> Dataset {
        let prefix = test ? "dataset.test_" : "dataset."
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
        case .mnist1d:
            guard let path = DatasetLoader.mnist1dPath else {
                throw problem("dataset.kind", "the bundled MNIST-1D data set is missing from this build")
            }
            var parser = CSVParser()
            parser.hasHeader = true
            return try csv(at: path, field: "dataset.kind", name: "mnist1d", parser: parser)
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
            let path = try resolve(spec.path ?? "", field: prefix + "path")
            return try csv(at: path, field: prefix + "path", name: spec.path ?? "csv", parser: parser)
        case .idx:
            let imagesPath = try resolve(spec.images ?? "", field: prefix + "images")
            let labelsPath = try resolve(spec.labels ?? "", field: prefix + "labels")
            do {
                let images = try IDXParser.parse(read(imagesPath, field: prefix + "images"), what: "images")
                let labels = try IDXParser.parse(read(labelsPath, field: prefix + "labels"), what: "labels")
                return try IDXParser.dataset(images: images, labels: labels, name: spec.images ?? "idx", maxClasses: 1000)
            } catch let error as IDXParser.FormatError {
                throw problem(error.description.hasPrefix("labels") ? prefix + "labels" : prefix + "images", error.description)
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
