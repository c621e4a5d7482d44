public import Kernels

/// The layers of a host declared as a sequence (`"model": {"layers": [...]}`): conv1d layers
/// over the input signal, a flatten, dense hidden layers. The linear output layer to the
/// classes is always appended, as it is after `hidden_sizes`.
public enum HostLayerSpec: Sendable, Codable, Equatable {
    case conv1d(Conv1DSpec)
    case flatten
    /// A hidden dense layer of `units` (the model's activation after it).
    case dense(units: Int)

    private enum CodingKeys: String, CodingKey { case kind, channels, kernelSize, stride, padding, activation, units }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "conv1d":
            self = .conv1d(
                Conv1DSpec(
                    channels: try container.decode(Int.self, forKey: .channels),
                    kernelSize: try container.decode(Int.self, forKey: .kernelSize),
                    stride: try container.decodeIfPresent(Int.self, forKey: .stride) ?? 1,
                    padding: try container.decodeIfPresent(Conv1DSpec.Padding.self, forKey: .padding) ?? .valid,
                    activation: try container.decodeIfPresent(Activation.self, forKey: .activation) ?? .relu))
        case "flatten": self = .flatten
        case "dense": self = .dense(units: try container.decode(Int.self, forKey: .units))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "unknown layer kind '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .conv1d(let spec):
            try container.encode("conv1d", forKey: .kind)
            try container.encode(spec.channels, forKey: .channels)
            try container.encode(spec.kernelSize, forKey: .kernelSize)
            try container.encode(spec.stride, forKey: .stride)
            try container.encode(spec.padding, forKey: .padding)
            try container.encode(spec.activation, forKey: .activation)
        case .flatten:
            try container.encode("flatten", forKey: .kind)
        case .dense(let units):
            try container.encode("dense", forKey: .kind)
            try container.encode(units, forKey: .units)
        }
    }
}

/// One conv1d layer as a run config declares it.
public struct Conv1DSpec: Sendable, Codable, Equatable {
    /// `same` keeps ceil(length / stride) positions (TensorFlow's rule, the extra padding
    /// on the right), `valid` pads nothing, a number pads that many zeros on each side.
    public enum Padding: Sendable, Codable, Equatable {
        case same
        case valid
        case explicit(Int)

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let count = try? container.decode(Int.self) {
                self = .explicit(count)
            } else {
                switch try container.decode(String.self) {
                case "same": self = .same
                case "valid": self = .valid
                case let other:
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown padding '\(other)'")
                }
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .same: try container.encode("same")
            case .valid: try container.encode("valid")
            case .explicit(let count): try container.encode(count)
            }
        }
    }

    public var channels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Padding
    public var activation: Activation

    public init(channels: Int, kernelSize: Int, stride: Int = 1, padding: Padding = .valid, activation: Activation = .relu) {
        self.channels = channels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.activation = activation
    }

    /// Zeros before and after a signal of `length` positions.
    public func pads(length: Int) -> (left: Int, right: Int) {
        switch padding {
        case .valid: return (0, 0)
        case .explicit(let count): return (count, count)
        case .same:
            let out = (length + stride - 1) / stride
            let total = max(0, (out - 1) * stride + kernelSize - length)
            return (total / 2, total - total / 2)
        }
    }
}

/// A conv1d layer of a host with its geometry resolved for the signal it reads: what the
/// host, checkpoints and cost accounting need. Signals are channels-last, `[length, channels]`
/// per example (see `ck_conv1d_forward`), flattened in that order.
public struct Conv1DLayerShape: Sendable, Codable, Equatable {
    public var inputChannels: Int
    public var inputLength: Int
    public var channels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padLeft: Int
    public var padRight: Int
    public var activation: Activation

    /// Output positions; 0 when the padded signal is shorter than the kernel (nothing left).
    public var outputLength: Int {
        let padded = inputLength + padLeft + padRight
        guard stride > 0, kernelSize > 0, padded >= kernelSize else { return 0 }
        return (padded - kernelSize) / stride + 1
    }

    /// Floats per example in and out.
    public var inputWidth: Int { inputLength * inputChannels }
    public var outputWidth: Int { outputLength * channels }
    public var weightCount: Int { channels * kernelSize * inputChannels }
    public var parameterCount: Int { weightCount + channels }
    /// Multiply-adds per example of the forward convolution.
    public var multiplyAdds: Int { outputLength * channels * kernelSize * inputChannels }
}

extension ModelSpec {
    /// The conv layers of `layers` resolved over a signal of `inputs` floats (one channel),
    /// and the dense hidden sizes after them; `problems` names every layer that does not fit.
    /// With no `layers`, no conv layers and `hiddenSizes`.
    public func resolvedLayers(
        inputs: Int
    ) -> (convolutions: [Conv1DLayerShape], hiddenSizes: [Int], problems: [(index: Int, message: String)]) {
        guard let layers else { return ([], hiddenSizes, []) }
        return ModelSpec.resolve(layers.enumerated().map { ($0.offset, $0.element) }, inputs: inputs)
    }

    /// As `resolvedLayers`, over layers that keep their index in the config (a config with
    /// some invalid layers still gets the shapes of the others checked).
    static func resolve(
        _ layers: [(index: Int, layer: HostLayerSpec)], inputs: Int
    ) -> (convolutions: [Conv1DLayerShape], hiddenSizes: [Int], problems: [(index: Int, message: String)]) {
        var convolutions: [Conv1DLayerShape] = []
        var hidden: [Int] = []
        var problems: [(Int, String)] = []
        var length = inputs, channels = 1
        for (index, layer) in layers {
            switch layer {
            case .conv1d(let spec):
                let pads = spec.pads(length: length)
                let shape = Conv1DLayerShape(
                    inputChannels: channels, inputLength: length, channels: spec.channels, kernelSize: spec.kernelSize,
                    stride: spec.stride, padLeft: pads.left, padRight: pads.right, activation: spec.activation)
                if length > 0 && shape.outputLength == 0 {
                    problems.append(
                        (
                            index,
                            "kernel_size \(spec.kernelSize) does not fit a signal of \(length) positions with padding \(pads.left)+\(pads.right): nothing is left"
                        ))
                }
                convolutions.append(shape)
                length = shape.outputLength
                channels = spec.channels
            case .flatten: break
            case .dense(let units): hidden.append(units)
            }
        }
        return (convolutions, hidden, problems)
    }
}
