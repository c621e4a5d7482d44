// A grown run's final host: hidden widths read from its latest epoch's slots (widenings that fossilised).
public import Tolaria

public enum FinalArchitecture {
    /// The hidden-layer widths after growth: `slot-i` follows hidden layer i and reports that
    /// layer's width, which a fossilised widening seed made wider (its units became host
    /// units). A seed still live when the run ended does not count; residual seeds fossilised
    /// in a slot add parameters but no width, so a static control cannot reproduce them.
    public static func hiddenSizes(configured: [Int], latest: EpochSummary?) -> [Int] {
        var sizes = configured
        for slot in latest?.slots ?? [] {
            guard slot.name.hasPrefix("slot-"), let layer = Int(slot.name.dropFirst(5)), sizes.indices.contains(layer), slot.width > 0
            else { continue }
            sizes[layer] = slot.width
        }
        return sizes
    }

    /// The conv branches part of the host at the end (fossilised structural seeds and declared
    /// ones), as `model.branches` declares them; empty when there are none.
    public static func branches(latest: EpochSummary?) -> [BranchSpec] { latest?.branches ?? [] }
}
