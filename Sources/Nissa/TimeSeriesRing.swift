/// A bounded time series: at most `capacity` points, none older than `span` behind the
/// newest, kept in ascending time order in a ring (appends are O(1); a rare out-of-order
/// point is inserted in place). Not thread-safe: `MetricStore` guards it.
public struct TimeSeriesRing: Sendable {
    public let capacity: Int
    /// Milliseconds.
    public let span: Int64
    private var times: [Int64]
    private var values: [Double]
    /// Physical index of the oldest point.
    private var head = 0
    public private(set) var count = 0

    public init(capacity: Int, spanMilliseconds: Int64) {
        precondition(capacity > 0)
        self.capacity = capacity
        span = spanMilliseconds
        times = []
        values = []
    }

    @inline(__always) private func physical(_ index: Int) -> Int {
        let p = head + index
        return p >= capacity ? p - capacity : p
    }

    public func time(at index: Int) -> Int64 { times[physical(index)] }
    public func value(at index: Int) -> Double { values[physical(index)] }
    public var last: (time: Int64, value: Double)? {
        count == 0 ? nil : (time(at: count - 1), value(at: count - 1))
    }

    public mutating func append(time: Int64, value: Double) {
        if count > 0 && time < self.time(at: count - 1) {
            insertOutOfOrder(time: time, value: value)
        } else if count < capacity {
            if times.count < capacity {
                times.append(time)
                values.append(value)
            } else {
                times[physical(count)] = time
                values[physical(count)] = value
            }
            count += 1
        } else {
            times[head] = time
            values[head] = value
            head = head + 1 == capacity ? 0 : head + 1
        }
        prune(before: (self.last?.time ?? time) - span)
    }

    /// Drops points older than `cutoff` (from the oldest end).
    public mutating func prune(before cutoff: Int64) {
        while count > 0 && times[head] < cutoff {
            head = head + 1 == capacity ? 0 : head + 1
            count -= 1
        }
        if count == 0 {
            head = 0
            times.removeAll(keepingCapacity: true)
            values.removeAll(keepingCapacity: true)
        }
    }

    private mutating func insertOutOfOrder(time: Int64, value: Double) {
        var points = (0..<count).map { (self.time(at: $0), self.value(at: $0)) }
        let position = points.firstIndex { $0.0 > time } ?? points.count
        points.insert((time, value), at: position)
        if points.count > capacity { points.removeFirst(points.count - capacity) }
        times = points.map(\.0)
        values = points.map(\.1)
        head = 0
        count = points.count
    }

    /// First logical index with time ≥ `time`.
    public func lowerBound(_ time: Int64) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if self.time(at: mid) < time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Points with `from ≤ time ≤ to`, at most `maxPoints`: when more fall in the range they
    /// are averaged in equal-count buckets, each stamped with its last point's time (so the
    /// newest point keeps its time and order stays ascending).
    public func range(from: Int64, to: Int64, maxPoints: Int) -> [(time: Int64, value: Double)] {
        let start = lowerBound(from)
        var end = lowerBound(to &+ 1)
        if end < start { end = start }
        let n = end - start
        guard n > 0 else { return [] }
        var out: [(time: Int64, value: Double)] = []
        if n <= maxPoints || maxPoints <= 0 {
            out.reserveCapacity(n)
            for i in start..<end { out.append((time(at: i), value(at: i))) }
            return out
        }
        out.reserveCapacity(maxPoints)
        for bucket in 0..<maxPoints {
            let lo = start + bucket * n / maxPoints
            let hi = start + (bucket + 1) * n / maxPoints
            guard hi > lo else { continue }
            var sum = 0.0
            for i in lo..<hi { sum += value(at: i) }
            out.append((time(at: hi - 1), sum / Double(hi - lo)))
        }
        return out
    }
}
