import Foundation

/// Parses numeric CSV: one example per line, one column holds the integer class label, all
/// others are features. Every malformed line is reported with its 1-based line number
/// (ragged rows, non-numbers, bad labels), so a 422 can say exactly what to fix.
struct CSVParser {
    enum LabelColumn: Sendable, Equatable {
        /// 0-based; negative counts from the end (-1 = last column).
        case index(Int)
        /// Header name (needs a header line).
        case name(String)
    }

    var labelColumn: LabelColumn = .index(-1)
    var hasHeader = false
    var delimiter: UInt8 = UInt8(ascii: ",")
    /// Stop collecting problems after this many (the first ones are what a person fixes).
    var maxProblems = 20
    var maxClasses = 1000

    struct Problems: Error {
        var messages: [String]
    }

    func parse(_ bytes: [UInt8], name: String) throws(Problems) -> Dataset {
        var problems: [String] = []
        var features: [Float] = []
        var labels: [Int32] = []
        var width: Int?  // number of columns
        var labelIndex: Int?
        var lineNumber = 0
        var sawHeader = !hasHeader
        var start = 0
        var field: [CChar] = []
        field.reserveCapacity(64)

        func note(_ message: String) {
            if problems.count < maxProblems { problems.append(message) }
        }

        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            lineNumber += 1
            var lineEnd = end
            if lineEnd > start && bytes[lineEnd - 1] == 13 { lineEnd -= 1 }
            defer { start = end + 1 }
            // Blank lines (typically the last) carry no example.
            if bytes[start..<lineEnd].allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            let columns = split(bytes[start..<lineEnd])
            if !sawHeader {
                sawHeader = true
                width = columns.count
                let names = columns.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
                switch labelColumn {
                case .name(let wanted):
                    guard let index = names.firstIndex(of: wanted) else {
                        note("line \(lineNumber): the header has no column named '\(wanted)' (columns: \(names.joined(separator: ", ")))")
                        throw Problems(messages: problems)
                    }
                    labelIndex = index
                case .index(let index):
                    labelIndex = try resolve(index, columns: columns.count, line: lineNumber)
                }
                continue
            }
            if width == nil {
                width = columns.count
                if case .name(let wanted) = labelColumn {
                    note("label_column '\(wanted)' names a column, but the file has no header (set has_header)")
                    throw Problems(messages: problems)
                }
                if case .index(let index) = labelColumn {
                    labelIndex = try resolve(index, columns: columns.count, line: lineNumber)
                }
            }
            guard columns.count == width, let labelIndex else {
                note("line \(lineNumber): expected \(width ?? 0) columns, found \(columns.count)")
                continue
            }
            var row: [Float] = []
            row.reserveCapacity(columns.count - 1)
            var rowLabel: Int32 = 0
            var rowOK = true
            for (column, text) in columns.enumerated() {
                guard let value = number(text, &field) else {
                    note("line \(lineNumber), column \(column + 1): '\(String(decoding: text.prefix(40), as: UTF8.self))' is not a number")
                    rowOK = false
                    break
                }
                if column == labelIndex {
                    guard value >= 0, value < Double(maxClasses), value.rounded() == value else {
                        note("line \(lineNumber), column \(column + 1): label \(value) is not a class index 0…\(maxClasses - 1)")
                        rowOK = false
                        break
                    }
                    rowLabel = Int32(value)
                } else {
                    guard value.isFinite, abs(value) <= Double(Float.greatestFiniteMagnitude) else {
                        note("line \(lineNumber), column \(column + 1): \(value) is not a finite 32-bit number")
                        rowOK = false
                        break
                    }
                    row.append(Float(value))
                }
            }
            if rowOK {
                features.append(contentsOf: row)
                labels.append(rowLabel)
            }
        }
        if !problems.isEmpty { throw Problems(messages: problems) }
        guard let width, width >= 2 else {
            throw Problems(messages: ["the file has no data rows with a label and at least one feature"])
        }
        let classes = Int(labels.max() ?? 0) + 1
        guard labels.count >= 2, classes >= 2 else {
            throw Problems(messages: [
                "need at least 2 rows and 2 classes, found \(labels.count) rows and \(classes) class\(classes == 1 ? "" : "es")"
            ])
        }
        return Dataset(name: name, features: features, labels: labels, featureCount: width - 1, classCount: classes)
    }

    /// The label column fixes the layout, so a bad one ends parsing at once.
    private func resolve(_ index: Int, columns: Int, line: Int) throws(Problems) -> Int {
        let resolved = index < 0 ? columns + index : index
        guard resolved >= 0, resolved < columns else {
            throw Problems(messages: ["line \(line): label_column \(index) is outside the \(columns) columns of the file"])
        }
        return resolved
    }

    private func split(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var columns: [ArraySlice<UInt8>] = []
        var fieldStart = line.startIndex
        for i in line.indices where line[i] == delimiter {
            columns.append(line[fieldStart..<i])
            fieldStart = i + 1
        }
        columns.append(line[fieldStart..<line.endIndex])
        return columns
    }

    /// strtod over the trimmed field; nil unless the whole field is one number.
    private func number(_ text: ArraySlice<UInt8>, _ buffer: inout [CChar]) -> Double? {
        var slice = text
        while let first = slice.first, first == 32 || first == 9 || first == 34 { slice = slice.dropFirst() }
        while let last = slice.last, last == 32 || last == 9 || last == 34 { slice = slice.dropLast() }
        guard !slice.isEmpty, slice.count < 64 else { return nil }
        buffer.removeAll(keepingCapacity: true)
        for byte in slice { buffer.append(CChar(bitPattern: byte)) }
        buffer.append(0)
        return buffer.withUnsafeBufferPointer { pointer -> Double? in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(pointer.baseAddress!, &end)
            guard let end, end - UnsafeMutablePointer(mutating: pointer.baseAddress!) == slice.count else { return nil }
            return value
        }
    }
}
