/// Reads MNIST-style IDX files: a big-endian header (two zero bytes, a type code, the number
/// of dimensions, each dimension as UInt32) followed by the values. Images are `[n, …]`
/// (each example flattened), labels `[n]` of integers.
enum IDXParser {
    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    struct Tensor {
        var dimensions: [Int]
        var values: [Double]
    }

    static func parse(_ bytes: [UInt8], what: String) throws(FormatError) -> Tensor {
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw FormatError(description: "\(what): not an IDX file (the first two bytes must be zero)")
        }
        let type = bytes[2], rank = Int(bytes[3])
        let size: Int
        switch type {
        case 0x08, 0x09: size = 1
        case 0x0B: size = 2
        case 0x0C, 0x0D: size = 4
        case 0x0E: size = 8
        default: throw FormatError(description: "\(what): unknown IDX type code 0x\(String(type, radix: 16))")
        }
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw FormatError(description: "\(what): header truncated (rank \(rank))")
        }
        var dimensions: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            dimensions.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        let count = dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let offset = 4 + 4 * rank
        guard count < Int.max / size, bytes.count - offset == count * size else {
            throw FormatError(
                description:
                    "\(what): header says \(dimensions.map(String.init).joined(separator: "×")) values of \(size) bytes, but the file holds \(bytes.count - offset) data bytes"
            )
        }
        var values: [Double] = []
        values.reserveCapacity(count)
        for i in 0..<count {
            let o = offset + i * size
            var raw: UInt64 = 0
            for b in 0..<size { raw = raw << 8 | UInt64(bytes[o + b]) }
            switch type {
            case 0x08: values.append(Double(raw))
            case 0x09: values.append(Double(Int8(truncatingIfNeeded: raw)))
            case 0x0B: values.append(Double(Int16(truncatingIfNeeded: raw)))
            case 0x0C: values.append(Double(Int32(truncatingIfNeeded: raw)))
            case 0x0D: values.append(Double(Float(bitPattern: UInt32(raw))))
            default: values.append(Double(bitPattern: raw))
            }
        }
        return Tensor(dimensions: dimensions, values: values)
    }

    /// Pairs an images file with a labels file.
    static func dataset(images: Tensor, labels: Tensor, name: String, maxClasses: Int) throws(FormatError) -> Dataset {
        guard labels.dimensions.count == 1 else {
            throw FormatError(description: "labels: expected one dimension, found \(labels.dimensions.count)")
        }
        let n = images.dimensions[0]
        guard labels.dimensions[0] == n else {
            throw FormatError(description: "images hold \(n) examples but labels hold \(labels.dimensions[0])")
        }
        let width = images.dimensions.dropFirst().reduce(1, *)
        guard n >= 2, width >= 1 else { throw FormatError(description: "images: need at least 2 examples of at least 1 value") }
        var classLabels: [Int32] = []
        for (i, label) in labels.values.enumerated() {
            guard label >= 0, label < Double(maxClasses), label.rounded() == label else {
                throw FormatError(description: "labels: entry \(i) is \(label), not a class index 0…\(maxClasses - 1)")
            }
            classLabels.append(Int32(label))
        }
        if let bad = images.values.firstIndex(where: { !$0.isFinite }) {
            throw FormatError(description: "images: value \(bad) is not finite")
        }
        let classes = Int(classLabels.max() ?? 0) + 1
        guard classes >= 2 else { throw FormatError(description: "labels: need at least 2 classes") }
        return Dataset(name: name, features: images.values.map { Float($0) }, labels: classLabels, featureCount: width, classCount: classes)
    }
}
