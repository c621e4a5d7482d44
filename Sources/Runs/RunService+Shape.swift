// The input and class counts of a run's data set, for counting a host's parameters outside training.
public import Tolaria

extension RunService {
    /// The run's data set's feature and class counts: loaded as a worker would, once per
    /// data set and file version (`datasetShapes`).
    public func datasetShape(of config: RunConfig) throws -> (inputs: Int, classes: Int) {
        let shape = try cachedDatasetShape(of: config)
        return (shape.inputs, shape.classes)
    }

    func cachedDatasetShape(of config: RunConfig) throws(RunConfigError) -> DatasetShapeCache.Shape {
        try datasetShapes.shape(of: config.dataset) { () throws(RunConfigError) in
            let dataset = try loader.load(config.dataset, runSeed: config.seed)
            return DatasetShapeCache.Shape(inputs: dataset.featureCount, classes: dataset.classCount)
        }
    }
}
