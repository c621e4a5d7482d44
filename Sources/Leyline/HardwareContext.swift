/// The device a training run uses, as reported in every `SystemStatePacket`.
public struct HardwareContext: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case deviceType = "device_type", deviceId = "device_id", totalMemoryGb = "total_memory_gb"
        case availableMemoryGb = "available_memory_gb", temperatureCelsius = "temperature_celsius"
        case utilizationPercent = "utilization_percent", computeCapability = "compute_capability"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deviceType = try c.field(.deviceType, or: "")
        deviceId = try c.field(.deviceId, or: "")
        totalMemoryGb = try c.field(.totalMemoryGb, or: 0)
        availableMemoryGb = try c.field(.availableMemoryGb, or: 0)
        temperatureCelsius = try c.field(.temperatureCelsius, or: 0)
        utilizationPercent = try c.field(.utilizationPercent, or: 0)
        computeCapability = try c.field(.computeCapability, or: 0)
    }

    public func validate(_ v: inout LeylineValidator) {
        v.optionalIdentifier("device_type", deviceType)
        v.optionalIdentifier("device_id", deviceId)
        v.finite("total_memory_gb", totalMemoryGb, in: 0...Double(Float.greatestFiniteMagnitude))
        v.finite("available_memory_gb", availableMemoryGb, in: 0...Double(Float.greatestFiniteMagnitude))
        v.finite("temperature_celsius", temperatureCelsius, in: -273.15...1000)
        v.finite("utilization_percent", utilizationPercent, in: 0...100)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension HardwareContext: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "available_memory_gb", "compute_capability", "device_id", "device_type", "temperature_celsius", "total_memory_gb",
        "utilization_percent",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("available_memory_gb"); w.float(availableMemoryGb)
        w.key("compute_capability"); w.unsigned(computeCapability)
        w.key("device_id"); w.string(deviceId)
        w.key("device_type"); w.string(deviceType)
        w.key("temperature_celsius"); w.float(temperatureCelsius)
        w.key("total_memory_gb"); w.float(totalMemoryGb)
        w.key("utilization_percent"); w.float(utilizationPercent)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(HardwareContext.jsonFields, &cursor) {
            switch field {
            case 0: availableMemoryGb = try r.float()
            case 1: computeCapability = try r.uint32()
            case 2: deviceId = try r.string()
            case 3: deviceType = try r.string()
            case 4: temperatureCelsius = try r.float()
            case 5: totalMemoryGb = try r.float()
            case 6: utilizationPercent = try r.float()
            default: break
            }
        }
    }
}
