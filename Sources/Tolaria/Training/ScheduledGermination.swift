// One germination of the `scheduled` policy: at which epoch boundary, in which slot, which blueprint.

/// A germination the `scheduled` policy makes at the boundary of `epoch` (0-based), the epoch
/// a seed view records as `germinated_epoch`: a study's `fixed_schedule` control repeats a
/// grown run's germinations this way, without a controller's judgement.
public struct ScheduledGermination: Sendable, Codable, Equatable {
    public var epoch: Int
    public var slot: String
    public var blueprint: String

    public init(epoch: Int, slot: String, blueprint: String) {
        self.epoch = epoch
        self.slot = slot
        self.blueprint = blueprint
    }

    /// Germinations a schedule may list (`max_germinations`' own bound).
    public static let maxCount = 1000

    /// Whether `id` looks like a blueprint id (whether it exists is the controller's check).
    static func isBlueprintId(_ id: String) -> Bool {
        !id.isEmpty
            && id.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0))
            }
    }

    /// `seeds.schedule`: every bad entry reported with its index; sorted by epoch.
    static func parse(_ reader: FieldReader, slotNames: [String], epochs: Int) -> [ScheduledGermination]? {
        guard case .array(let items)? = reader.value("schedule"), (1...maxCount).contains(items.count) else {
            reader.problem("schedule", "expected an array of 1-\(maxCount) objects {\"epoch\", \"slot\", \"blueprint\"}")
            return nil
        }
        var schedule: [ScheduledGermination] = []
        for (index, item) in items.enumerated() {
            let key = "schedule[\(index)]"
            guard case .object = item else {
                reader.problem(key, "expected an object {\"epoch\", \"slot\", \"blueprint\"}")
                continue
            }
            let entry = FieldReader(item, path: reader.field(key), problems: reader.problems)
            let epoch = entry.int("epoch", 0...max(0, epochs - 1), required: true)
            var slot = entry.string("slot", maxLength: 64, required: true)
            if let name = slot, !slotNames.contains(name) {
                entry.problem("slot", "'\(name)' is not a slot of this host (\(slotNames.joined(separator: ", ")))")
                slot = nil
            }
            var blueprint = entry.string("blueprint", maxLength: 64, required: true)
            if let id = blueprint, !isBlueprintId(id) {
                entry.problem("blueprint", "'\(id)' is not a blueprint id")
                blueprint = nil
            }
            entry.rejectUnknown()
            if let epoch, let slot, let blueprint { schedule.append(ScheduledGermination(epoch: epoch, slot: slot, blueprint: blueprint)) }
        }
        guard schedule.count == items.count else { return nil }
        return schedule.sorted { $0.epoch < $1.epoch }
    }
}
