/// The device a training run uses, as reported in every `SystemStatePacket`.
public struct HardwareContext: LeylineMessage {
    /// `cuda`, `cpu` or `tpu`.
    public var deviceType: String
    public var deviceId: String
    public var totalMemoryGb: Float
    public var availableMemoryGb: Float
    public var temperatureCelsius: Float
    public var utilizationPercent: Float
    public var computeCapability: UInt32

    public init(
        deviceType: String = "", deviceId: String = "", totalMemoryGb: Float = 0, availableMemoryGb: Float = 0,
        temperatureCelsius: Float = 0, utilizationPercent: Float = 0, computeCapability: UInt32 = 0
    ) {
        self.deviceType = deviceType
        self.deviceId = deviceId
        self.totalMemoryGb = totalMemoryGb
        self.availableMemoryGb = availableMemoryGb
        self.temperatureCelsius = temperatureCelsius
        self.utilizationPercent = utilizationPercent
        self.computeCapability = computeCapability
    }

    public static let fields = LeylineFields(
        HardwareContext(),
        [
            .field("device_type", \.deviceType, .optionalIdentifier),
            .field("device_id", \.deviceId, .optionalIdentifier),
            .field("total_memory_gb", \.totalMemoryGb, .nonNegative),
            .field("available_memory_gb", \.availableMemoryGb, .nonNegative),
            .field("temperature_celsius", \.temperatureCelsius, .finite(in: -273.15...1000)),
            .field("utilization_percent", \.utilizationPercent, .finite(in: 0...100)),
            .field("compute_capability", \.computeCapability),
        ])
}
