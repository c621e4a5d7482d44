public import Tolaria

/// Trains one run on the calling thread, from its last checkpoint if there is one: what a
/// worker does with a training job. Checkpoints live in `<checkpointRoot>/<run id>`, a
/// directory every worker that may resume the run must share with the others.
public struct RunExecutor: Sendable {
    public let checkpointRoot: String
    let loader: DatasetLoader

    public init(checkpointRoot: String, datasetsDirectory: String) {
        self.checkpointRoot = checkpointRoot
        loader = DatasetLoader(directory: datasetsDirectory)
    }

    public func checkpointDirectory(_ runId: String) -> String { checkpointRoot + "/" + runId }

    /// Loads the data set, builds the trainer, resumes from the newest intact checkpoint
    /// (`onResume` gets its epoch — 0 too — before the `resumed` event goes to the sink) and trains
    /// until the end, a stop, or a suspension.
    public func execute(
        runId: String, config: RunConfig, sink: any TrainingEventSink, controller: () -> any EpochController,
        control: any TrainingControl, onResume: (Int) -> Void
    ) -> Result<TrainingOutcome, any Error> {
        do {
            let data = try loader.load(config.dataset, runSeed: config.seed)
            // A job comes off the bus: its layers are checked against the data again rather
            // than trusted (a host that does not fit must fail the run, not the worker).
            let shapeProblems = config.model.shapeProblems(inputs: data.featureCount, batchSize: config.batchSize)
            if !shapeProblems.isEmpty { throw RunConfigError(problems: shapeProblems) }
            let split = DataSplit(data, spec: config.dataset, seed: config.seed)
            let store = CheckpointStore(directory: checkpointDirectory(runId), keep: config.keepCheckpoints)
            let trainer = Trainer(
                runId: runId, config: config, split: split, checkpoints: store, sink: sink, controller: controller(),
                control: control)
            if let epoch = try trainer.resumeFromCheckpoint(), epoch < config.epochs {
                // Even from epoch 0's checkpoint (the untrained model): whatever an earlier
                // attempt reported is trained again and must be replaced, not added to.
                onResume(epoch)
                guard epoch > 0 else { return .success(try trainer.run()) }
                sink.event(
                    TrainingEvent(
                        runId: runId, epoch: epoch, kind: .resumed, level: .info,
                        message: "resumed from the checkpoint of epoch \(epoch)", attributes: ["epoch": "\(epoch)"]))
            }
            return .success(try trainer.run())
        } catch {
            return .failure(error)
        }
    }
}
