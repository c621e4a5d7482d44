// The input and class counts of a run's data set, for counting a host's parameters outside training.
public import Tolaria

extension RunService {
    /// Loads the run's data set (as a worker would) and returns its feature and class counts.
    public func datasetShape(of config: RunConfig) throws -> (inputs: Int, classes: Int) {
        let dataset = try loader.load(config.dataset, runSeed: config.seed)
        return (dataset.featureCount, dataset.classCount)
    }
}
