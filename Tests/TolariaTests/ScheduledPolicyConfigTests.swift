// The `scheduled` policy's run config: seeds.schedule required with it, refused without it, every bad entry named.
import EsperJSON
import Testing

@testable import Tolaria

@Suite struct ScheduledPolicyConfigTests {
    let base = #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [4, 4]}, "epochs": 6, "learning_rate": 0.01"#

    func problems(_ tail: String) throws -> [String] {
        let json = try JSONValue.parse(base + tail)
        do throws(RunConfigError) {
            _ = try RunConfig.parse(json)
            return []
        } catch { return error.problems.map(\.field) }
    }

    @Test func aScheduleIsReadAndSortedByEpoch() throws {
        let config = try RunConfig.parse(
            try JSONValue.parse(
                base
                    + #", "policy": "scheduled", "seeds": {"schedule": [{"epoch": 4, "slot": "slot-1", "blueprint": "widen-8"}, "#
                    + #"{"epoch": 1, "slot": "slot-0", "blueprint": "BP001"}]}}"#))
        #expect(config.effectivePolicy == .scheduled)
        #expect(
            config.effectiveSeeds.schedule == [
                ScheduledGermination(epoch: 1, slot: "slot-0", blueprint: "BP001"),
                ScheduledGermination(epoch: 4, slot: "slot-1", blueprint: "widen-8"),
            ])
    }

    @Test func everyBadFieldIsNamed() throws {
        #expect(try problems(#", "policy": "scheduled"}"#) == ["seeds"])
        #expect(try problems(#", "policy": "scheduled", "seeds": {"warmup_epochs": 1}}"#) == ["seeds.schedule"])
        #expect(
            try problems(#", "policy": "heuristic", "seeds": {"schedule": [{"epoch": 1, "slot": "slot-0", "blueprint": "x"}]}}"#) == [
                "seeds.schedule"
            ])
        #expect(try problems(#", "policy": "scheduled", "seeds": {"schedule": []}}"#) == ["seeds.schedule"])
        #expect(
            try problems(
                #", "policy": "scheduled", "seeds": {"schedule": [{"epoch": 6, "slot": "slot-2", "blueprint": "../x", "colour": 1}, "#
                    + #"3, {"slot": "slot-0"}]}}"#)
                == [
                    "seeds.schedule[0].epoch", "seeds.schedule[0].slot", "seeds.schedule[0].blueprint", "seeds.schedule[0].colour",
                    "seeds.schedule[1]", "seeds.schedule[2].epoch", "seeds.schedule[2].blueprint",
                ])
    }
}
