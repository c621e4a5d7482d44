// Validation's data-set cache: a hit per repeated data set, a miss once its file changes, bounded, failures not kept.
import EsperJSON
import EsperTestSupport
import Foundation
import Logging
import Runs
import Testing
import Tolaria

@Suite(.serialized) struct DatasetShapeCacheTests {
    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Through the run service's validation path: the second config of the same CSV is a hit;
    /// rewriting the file (a third feature column) makes the next one a miss with the new shape.
    @Test func validationLoadsADataSetOncePerFileVersion() throws {
        let directory = TemporaryDirectory("esper-shapes")
        let jobs = try RunRecordsTests.IdleQueue()
        let datasets = directory.path + "/datasets"
        try FileManager.default.createDirectory(atPath: datasets, withIntermediateDirectories: true)
        try Self.write("1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,2\n", to: datasets + "/d.csv")
        let service = try RunService(
            options: RunService.Options(directory: directory.path + "/tolaria", datasetsDirectory: datasets),
            logger: Logger(label: "test"), queue: jobs.queue)
        let json = try JSONValue.parse(
            #"{"dataset": {"kind": "csv", "path": "d.csv", "validation_fraction": 0.2}, "model": {"hidden_sizes": [4]}, "epochs": 1, "learning_rate": 0.01}"#
        )
        func validate() throws -> RunConfig {
            do throws(RunConfigError) { return try service.validate(json) } catch {
                throw RunRecordsTests.Failure(description: "\(error)")
            }
        }
        let config = try validate()
        _ = try validate()
        #expect(service.datasetShapes.misses == 1 && service.datasetShapes.hits == 1)
        #expect(try service.datasetShape(of: config) == (inputs: 2, classes: 3))
        #expect(service.datasetShapes.hits == 2)

        try Self.write("1,2,5,0\n3,4,5,1\n5,6,5,0\n7,8,5,1\n", to: datasets + "/d.csv")
        _ = try validate()
        #expect(service.datasetShapes.misses == 2)
        #expect(try service.datasetShape(of: config) == (inputs: 3, classes: 2))

        // A file that cannot be read is reported each time, never kept.
        try FileManager.default.removeItem(atPath: datasets + "/d.csv")
        for _ in 0..<2 {
            #expect(throws: RunConfigError.self) { _ = try service.validate(json) }
        }
        // Both file versions' entries (the stale one ages out of the LRU); a file that cannot be
        // read has no key, so it is neither a miss nor kept.
        #expect(service.datasetShapes.count == 2 && service.datasetShapes.misses == 2)
    }

    /// At most `capacity` entries; the least recently used is the one dropped; a failed load
    /// is not kept.
    @Test func theCacheIsBoundedAndDropsTheLeastRecentlyUsed() throws {
        let cache = DatasetShapeCache(directory: TemporaryDirectory("esper-shapes").path, capacity: 2)
        var loads = 0
        func shape(_ samples: Int) throws -> DatasetShapeCache.Shape {
            var spec = DatasetSpec(kind: .twoMoons)
            spec.samples = samples
            return try cache.shape(of: spec) { () throws(RunConfigError) in
                loads += 1
                return DatasetShapeCache.Shape(inputs: samples, classes: 2)
            }
        }
        #expect(try shape(100).inputs == 100)
        _ = try shape(200)
        _ = try shape(100)  // hit: 100 becomes the most recently used
        _ = try shape(300)  // drops 200
        #expect(loads == 3 && cache.count == 2 && cache.hits == 1)
        _ = try shape(100)
        #expect(loads == 3, "100 was kept")
        _ = try shape(200)
        #expect(loads == 4 && cache.count == 2, "200 was dropped, loaded again")

        var spec = DatasetSpec(kind: .twoMoons)
        spec.samples = 400
        for _ in 0..<2 {
            #expect(throws: RunConfigError.self) {
                _ = try cache.shape(of: spec) { () throws(RunConfigError) in
                    throw RunConfigError(problems: [JSONFieldProblem(field: "dataset", message: "bad")])
                }
            }
        }
        #expect(cache.count == 2 && cache.misses == 6)
    }
}
