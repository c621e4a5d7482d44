public import Kernels

/// Which update rule, with its hyper-parameters (from the run config).
public struct OptimizerSettings: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case adam
        case adamw
        /// SGD with (optional) momentum.
        case sgd
    }

    public var kind: Kind
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    public var momentum: Float = 0.9

    public init(kind: Kind, learningRate: Float) {
        self.kind = kind
        self.learningRate = learningRate
    }
}

/// Applies one update to every trainable group, each with its own learning rate and step
/// count; frozen groups are skipped. Stateless apart from the moments in the groups' block.
public struct Optimizer: Sendable {
    public let settings: OptimizerSettings
    /// Multiplies every group's rate for this step (the run's learning-rate decay; 1 = none).
    public var learningRateScale: Float = 1

    public init(settings: OptimizerSettings) { self.settings = settings }

    public func step(_ groups: [ParameterGroup]) throws {
        for group in groups where !group.frozen && group.count > 0 {
            group.step += 1
            switch settings.kind {
            case .adam, .adamw:
                try Kernels.adamStep(
                    parameters: group.values, m: group.firstMoment, v: group.secondMoment, gradient: group.gradients,
                    count: group.count, learningRate: group.learningRate * learningRateScale, beta1: settings.beta1, beta2: settings.beta2,
                    epsilon: settings.epsilon, weightDecay: settings.weightDecay, step: group.step,
                    decoupled: settings.kind == .adamw)
            case .sgd:
                try Kernels.sgdStep(
                    parameters: group.values, velocity: settings.momentum > 0 ? group.firstMoment : nil,
                    gradient: group.gradients, count: group.count, learningRate: group.learningRate * learningRateScale,
                    momentum: settings.momentum, weightDecay: settings.weightDecay)
            }
        }
    }
}
