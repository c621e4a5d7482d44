/// A Leyline type with both JSON paths: `Codable` (through `JanssonEncoder`/`Decoder`, for
/// HTTP bodies that embed it) and the direct writer/reader (the bus, and `LeylineCodec`).
public protocol LeylineJSONCodable: LeylineJSONWritable, LeylineJSONReadable {}

/// Every contract message: a value type that codes itself to JSON both ways and validates.
public protocol LeylineMessage: Sendable, Equatable, Codable, LeylineValidatable, LeylineJSONCodable {}

extension SystemStatePacket: LeylineMessage {}
extension HardwareContext: LeylineMessage {}
extension SeedState: LeylineMessage {}
extension AdaptationCommand: LeylineMessage {}
extension CommandSeedOperation: LeylineMessage {}
extension CommandOptimizerAdjustment: LeylineMessage {}
extension CommandCircuitBreaker: LeylineMessage {}
extension FieldReport: LeylineMessage {}
extension MitigationAction: LeylineMessage {}
extension PolicyUpdate: LeylineMessage {}
extension BlueprintDescriptor: LeylineMessage {}
extension BlueprintParameterBounds: LeylineMessage {}
extension TelemetryPacket: LeylineMessage {}
extension MetricPoint: LeylineMessage {}
extension TelemetryEvent: LeylineMessage {}
extension TraceSpan: LeylineMessage {}
extension SystemHealth: LeylineMessage {}
extension EventEnvelope: LeylineMessage {}
extension BusEnvelope: LeylineMessage {}
