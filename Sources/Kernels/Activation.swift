/// Nonlinearity after each hidden layer of the host.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case identity
    case relu
    case gelu
    case tanh
}
