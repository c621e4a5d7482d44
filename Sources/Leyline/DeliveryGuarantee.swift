/// Delivery promise of an event envelope.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum DeliveryGuarantee: Int32, LeylineEnum {
    case unknown = 0
    case atLeastOnce = 1
    case atMostOnce = 2
    case exactlyOnce = 3

    public static let protoNames = [
        "DELIVERY_GUARANTEE_UNKNOWN",
        "DELIVERY_GUARANTEE_AT_LEAST_ONCE",
        "DELIVERY_GUARANTEE_AT_MOST_ONCE",
        "DELIVERY_GUARANTEE_EXACTLY_ONCE",
    ]
}
