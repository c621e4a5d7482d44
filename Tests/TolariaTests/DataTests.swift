import EsperJSON
import EsperTestSupport
import Foundation
import Testing

@testable import Tolaria

/// Data sets from files and generators: parsing, errors that name the line, sandboxing, splits.
@Suite struct DataTests {
    static func write(_ text: String, _ name: String, in directory: TemporaryDirectory) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory.path + "/" + name))
    }

    static func csvSpec(_ path: String) -> DatasetSpec {
        var spec = DatasetSpec(kind: .csv)
        spec.path = path
        return spec
    }

    static func problems(_ body: () throws -> Void) -> [JSONFieldProblem] {
        do {
            try body()
            return []
        } catch let error as RunConfigError {
            return error.problems
        } catch {
            return [JSONFieldProblem(field: "?", message: "\(error)")]
        }
    }

    @Test func theBundledDigitsLoad() throws {
        let digits = try DatasetLoader(directory: "/nonexistent").load(DatasetSpec(kind: .digits), runSeed: 0)
        #expect(digits.count == 1797)
        #expect(digits.featureCount == 64)
        #expect(digits.classCount == 10)
        #expect(digits.features.max() == 16)
    }

    @Test func csvWithHeaderNamedLabelAndGzip() throws {
        let directory = TemporaryDirectory()
        try Self.write("label;a;b\n1;0.5;2\n0;1e-3;-4\n\n2;3;3\r\n", "h.csv", in: directory)
        var spec = Self.csvSpec("h.csv")
        spec.hasHeader = true
        spec.labelColumn = .name("label")
        spec.delimiter = ";"
        let data = try DatasetLoader(directory: directory.path).load(spec, runSeed: 0)
        #expect(data.labels == [1, 0, 2])
        #expect(data.features == [0.5, 2, 0.001, -4, 3, 3])
        #expect(data.classCount == 3)

        // The same loader reads gzip: copy the bundled digits under another name.
        try FileManager.default.copyItem(atPath: DatasetLoader.digitsPath!, toPath: directory.path + "/d.csv.gz")
        #expect(try DatasetLoader(directory: directory.path).load(Self.csvSpec("d.csv.gz"), runSeed: 0).count == 1797)
    }

    @Test func badCSVFilesAreReportedByLine() throws {
        let directory = TemporaryDirectory()
        try Self.write("1,2,0\n3,4,1\n5,x,0\n1,2\n7,8,1.5\n9,9,-1\n", "bad.csv", in: directory)
        let problems = Self.problems { _ = try DatasetLoader(directory: directory.path).load(Self.csvSpec("bad.csv"), runSeed: 0) }
        #expect(problems.map(\.field) == Array(repeating: "dataset.path", count: 4))
        #expect(
            problems.map(\.message) == [
                "line 3, column 2: 'x' is not a number",
                "line 4: expected 3 columns, found 2",
                "line 5, column 3: label 1.5 is not a class index 0…999",
                "line 6, column 3: label -1.0 is not a class index 0…999",
            ])

        try Self.write("a,b\n1,0\n", "header.csv", in: directory)
        var named = Self.csvSpec("header.csv")
        named.hasHeader = true
        named.labelColumn = .name("label")
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(named, runSeed: 0) }.first?.message
                == "line 1: the header has no column named 'label' (columns: a, b)")

        var outside = Self.csvSpec("x.csv")
        outside.labelColumn = .index(5)
        try Self.write("1,0\n2,1\n", "x.csv", in: directory)
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(outside, runSeed: 0) }.first?.message
                == "line 1: label_column 5 is outside the 2 columns of the file")
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(Self.csvSpec("missing.csv"), runSeed: 0) }.first?.message
                == "no file 'missing.csv' in the datasets directory")

        // A symbolic link cannot lead out of the datasets directory.
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/escape.csv", withDestinationPath: "/etc/passwd")
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(Self.csvSpec("escape.csv"), runSeed: 0) }.first?.message
                == "'escape.csv' leaves the datasets directory")
    }

    static func idx(type: UInt8, dimensions: [Int], payload: [UInt8]) -> Data {
        var bytes: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
        for d in dimensions { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return Data(bytes + payload)
    }

    @Test func idxFilesLoadAndBadOnesAreNamed() throws {
        let directory = TemporaryDirectory()
        try Self.idx(type: 0x08, dimensions: [3, 2, 2], payload: Array(0..<12)).write(to: URL(fileURLWithPath: directory.path + "/img.idx"))
        try Self.idx(type: 0x08, dimensions: [3], payload: [0, 1, 1]).write(to: URL(fileURLWithPath: directory.path + "/lab.idx"))
        var spec = DatasetSpec(kind: .idx)
        spec.images = "img.idx"
        spec.labels = "lab.idx"
        let data = try DatasetLoader(directory: directory.path).load(spec, runSeed: 0)
        #expect(data.featureCount == 4)
        #expect(data.labels == [0, 1, 1])
        #expect(data.features[4...7] == [4, 5, 6, 7])

        try Self.idx(type: 0x08, dimensions: [4], payload: [0, 1, 1, 0]).write(to: URL(fileURLWithPath: directory.path + "/lab4.idx"))
        spec.labels = "lab4.idx"
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(spec, runSeed: 0) }
                == [JSONFieldProblem(field: "dataset.images", message: "images hold 3 examples but labels hold 4")])
        try Self.idx(type: 0x08, dimensions: [3, 2, 2], payload: Array(0..<11)).write(
            to: URL(fileURLWithPath: directory.path + "/short.idx"))
        spec.images = "short.idx"
        #expect(
            Self.problems { _ = try DatasetLoader(directory: directory.path).load(spec, runSeed: 0) }.first?.message
                == "images: header says 3×2×2 values of 1 bytes, but the file holds 11 data bytes")
    }

    @Test func splitsAreSeededDisjointAndScaledFromTrainingOnly() throws {
        var parameters = SyntheticTask.Parameters()
        parameters.samples = 100
        parameters.seed = 3
        let data = SyntheticTask.twoMoons.generate(parameters)
        #expect(data == SyntheticTask.twoMoons.generate(parameters))
        let a = DataSplit(data, validationFraction: 0.2, seed: 9, scaling: .none)
        let b = DataSplit(data, validationFraction: 0.2, seed: 9, scaling: .none)
        #expect(a.training == b.training && a.validation == b.validation)
        #expect(a.training.count == 80 && a.validation.count == 20)
        #expect(a.epochOrder(seed: 1, epoch: 0) != a.epochOrder(seed: 1, epoch: 1))
        #expect(a.epochOrder(seed: 1, epoch: 3) == b.epochOrder(seed: 1, epoch: 3))
        #expect(Set(a.epochOrder(seed: 1, epoch: 0)).count == 80)

        let scaled = DataSplit(data, validationFraction: 0.2, seed: 9, scaling: .standardize)
        let mean = (0..<80).map { Double(scaled.training.features[$0 * 2]) }.reduce(0, +) / 80
        #expect(abs(mean) < 1e-5)
        let minmax = DataSplit(data, validationFraction: 0.2, seed: 9, scaling: .minmax)
        #expect(minmax.training.features.min() == 0 && minmax.training.features.max() == 1)
    }

    @Test func runConfigsListEveryProblem() throws {
        let json = try JSONValue.parse(
            """
            {"dataset": {"kind": "two_moons", "path": "a.csv", "samples": 5}, "epochs": 0, "learning_rate": "fast",
             "optimizer": "rmsprop", "model": {"hidden_sizes": [16, -1], "colour": 1}, "batch_size": 1.5,
             "momentum": 0.5, "fault_injection": {"nan_at_epoch": 3}}
            """)
        #expect(throws: RunConfigError.self) { try RunConfig.parse(json) }
        let problems = Self.problems { _ = try RunConfig.parse(json) }
        #expect(
            Set(problems.map(\.field)) == [
                "dataset.path", "dataset.samples", "model.hidden_sizes[1]", "model.colour", "epochs",
                "learning_rate", "optimizer", "batch_size", "momentum", "fault_injection.nan_at_epoch",
            ])
        #expect(problems.first { $0.field == "dataset.path" }?.message == "not used by data set kind 'two_moons'")

        let good = try RunConfig.parse(
            JSONValue.parse(
                """
                {"dataset": {"kind": "csv", "path": "x/y.csv", "label_column": -1}, "epochs": 3, "learning_rate": 0.1,
                 "optimizer": "sgd", "momentum": 0.8, "seed": 12}
                """))
        #expect(good.dataset.path == "x/y.csv")
        #expect(good.optimizerSettings.momentum == 0.8)
        #expect(good.seed == 12)
        // What the registry stores reads back as the same config.
        #expect(try JanssonDecoder().decode(RunConfig.self, from: JanssonEncoder().encode(good)) == good)
        #expect(Self.problems { _ = try RunConfig.parse(JSONValue.parse("[]")) }.first?.message == "expected a JSON object")
    }

    /// Found by schemathesis: the largest generated data set the schema allowed (1 000 000 ×
    /// 4 096 values) was built inside the submitting request.
    @Test func generatedDataSetsAreBoundedInSize() throws {
        let huge = try JSONValue.parse(
            #"{"dataset": {"kind": "gaussian_blobs", "samples": 1000000, "features": 4096}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(Self.problems { _ = try RunConfig.parse(huge) }.map(\.field) == ["dataset.features"])
        let fits = try JSONValue.parse(
            #"{"dataset": {"kind": "gaussian_blobs", "samples": 4096, "features": 4096}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(try RunConfig.parse(fits).dataset.features == 4096)
    }

    /// Found by schemathesis: a learning rate above 0 as a double but 0 as the stored float.
    @Test func positiveFloatsStayPositiveAsFloats() throws {
        let tiny = try JSONValue.parse(#"{"dataset": {"kind": "digits"}, "epochs": 1, "learning_rate": 1e-257}"#)
        #expect(Self.problems { _ = try RunConfig.parse(tiny) }.map(\.field) == ["learning_rate"])
    }
}
