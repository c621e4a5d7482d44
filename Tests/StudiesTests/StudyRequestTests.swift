// Parsing a study request, merge patches, the runs a study plans and where a bad field came from.
import EsperJSON
import Foundation
import Testing
import Tolaria

@testable import Studies

@Suite struct StudyRequestTests {
    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    @Test func mergePatchFollowsRFC7386() throws {
        // RFC 7386 appendix A examples.
        #expect(MergePatch.apply(try json(#"{"a":"z"}"#), to: try json(#"{"a":"b"}"#)) == (try json(#"{"a":"z"}"#)))
        #expect(MergePatch.apply(try json(#"{"a":null}"#), to: try json(#"{"a":"b","b":"c"}"#)) == (try json(#"{"b":"c"}"#)))
        #expect(MergePatch.apply(try json(#"{"a":[1]}"#), to: try json(#"{"a":[{"b":"c"}]}"#)) == (try json(#"{"a":[1]}"#)))
        #expect(
            MergePatch.apply(try json(#"{"a":{"bb":{"ccc":null}}}"#), to: try json(#"{"e":null}"#))
                == (try json(#"{"e":null,"a":{"bb":{}}}"#)))
        #expect(MergePatch.apply(try json(#"["c"]"#), to: try json(#"{"a":"foo"}"#)) == (try json(#"["c"]"#)))
        let patch = try json(#"{"model":{"hidden_sizes":[8]},"policy":"heuristic"}"#)
        #expect(MergePatch.touches(patch, path: ["model", "hidden_sizes"]))
        #expect(!MergePatch.touches(patch, path: ["model", "activation"]))
        #expect(MergePatch.touches(patch, path: ["policy"]) && !MergePatch.touches(patch, path: ["epochs"]))
    }

    @Test func everyBadFieldIsNamed() throws {
        let (request, problems) = StudyRequest.parse(
            try json(
                #"{"name": "", "base": 3, "arms": [{"name": "a b"}, {"name": "x", "overrides": 1, "colour": 2}], "seeds": [1, 1, -2], "#
                    + #""controls": ["no_growth", "no_growth", "bogus", "fixed_schedule"], "extra": true}"#))
        #expect(request == nil)
        #expect(
            problems.map(\.field) == [
                "extra", "name", "base", "arms[0].name", "arms[1].colour", "arms[1].overrides", "seeds[1]", "seeds[2]", "controls[1]",
                "controls[2]",
            ])
        #expect(problems.first { $0.field == "controls[1]" }?.message.contains("listed twice") == true)
        #expect(StudyRequest.parse(try json("[]")).problems.map(\.field) == [""])
        let missing = StudyRequest.parse(try json("{}")).problems.map(\.field)
        #expect(missing == ["name", "base", "arms", "seeds"])
        let duplicate = StudyRequest.parse(
            try json(#"{"name": "s", "base": {}, "arms": [{"name": "a"}], "fixed": [{"name": "a"}], "seeds": [1]}"#)
        ).problems
        #expect(duplicate.map(\.field) == ["fixed[0].name"])
    }

    @Test func planLabelsRunsAndTurnsGrowthOff() throws {
        let (parsed, problems) = StudyRequest.parse(
            try json(
                #"{"name": "s", "base": {"dataset": {"kind": "digits"}, "epochs": 5, "learning_rate": 0.01, "policy": "heuristic", "#
                    + #""seeds": {"warmup_epochs": 1}}, "arms": [{"name": "grow", "overrides": {"model": {"hidden_sizes": [4]}}}], "#
                    + #""seeds": [1, 2], "controls": ["no_growth", "static_final"], "fixed": [{"name": "wide", "#
                    + #""overrides": {"policy": null, "seeds": null, "model": {"hidden_sizes": [32]}}}]}"#))
        let request = try #require(parsed, "\(problems)")
        #expect(request.runCount == 8)
        let plan = StudyPlanner.plan(request, studyId: "S")
        #expect(plan.map(\.group) == Array(repeating: ["grow", "grow/no_growth", "grow/static_final", "wide"], count: 2).flatMap { $0 })
        #expect(plan.map(\.seed) == [1, 1, 1, 1, 2, 2, 2, 2])
        let grow = try #require(plan[0].config?.objectValue)
        #expect(grow["name"] == .string("grow/seed-1") && grow["experiment_name"] == .string("S") && grow["seed"] == .int(1))
        let narrow = try json(#"{"hidden_sizes": [4]}"#), wide = try json(#"{"hidden_sizes": [12]}"#)
        #expect(grow["policy"] == .string("heuristic") && grow["model"] == narrow)
        let noGrowth = try #require(plan[1].config?.objectValue)
        #expect(noGrowth["policy"] == nil && noGrowth["seeds"] == nil && noGrowth["name"] == .string("grow/no_growth/seed-1"))
        #expect(plan[2].config == nil, "static_final waits for its grown run")
        let staticFinal = try #require(
            StudyPlanner.staticFinal(from: plan[0].config!, hiddenSizes: [12], group: "grow/static_final", seed: 1, studyId: "S")
                .objectValue)
        #expect(staticFinal["model"] == wide && staticFinal["policy"] == nil)
        #expect(staticFinal["name"] == .string("grow/static_final/seed-1"))
        // A grown run's fossilised conv branches are declared from the start.
        let branched = try #require(
            StudyPlanner.staticFinal(
                from: plan[0].config!, hiddenSizes: [4], branches: [BranchSpec(blueprint: "conv-branch-16", slot: "slot-0")],
                group: "grow/static_final", seed: 1, studyId: "S"
            ).objectValue)
        #expect(
            branched["model"]
                == (try json(#"{"hidden_sizes": [4], "branches": [{"blueprint": "conv-branch-16", "slot": "slot-0"}]}"#)))

        let overrides = request.arms[0].overrides
        let located = StudyPlanner.locate(
            JSONFieldProblem(field: "model.hidden_sizes[0]", message: "bad"), overrides: overrides, variantField: "arms[0]")
        #expect(located.field == "arms[0].overrides.model.hidden_sizes[0]")
        #expect(
            StudyPlanner.locate(JSONFieldProblem(field: "epochs", message: "bad"), overrides: overrides, variantField: "arms[0]").field
                == "base.epochs")
    }
}

@Suite struct FixedSchedulePlanTests {
    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    @Test func theControlRepeatsTheGrownRunsGerminationsUnderTheScheduledPolicy() throws {
        let grown = try json(
            #"{"dataset": {"kind": "digits"}, "epochs": 9, "learning_rate": 0.01, "model": {"hidden_sizes": [4]}, "#
                + #""policy": "heuristic", "seeds": {"blueprints": ["widen-8"], "min_training_epochs": 2}, "name": "g/seed-3", "seed": 3}"#)
        let (parsed, _) = StudyRequest.parse(
            try json(#"{"name": "s", "base": {}, "arms": [{"name": "g"}], "seeds": [3], "controls": ["fixed_schedule"]}"#))
        let request = try #require(parsed)
        #expect(request.runCount == 2)
        let plan = StudyPlanner.plan(request, studyId: "S")
        #expect(plan.map(\.group) == ["g", "g/fixed_schedule"] && plan.map(\.kind) == [.arm, .fixedSchedule])
        #expect(plan[1].config == nil, "fixed_schedule waits for its grown run")
        let control = try #require(
            StudyPlanner.fixedSchedule(
                from: grown, germinations: [ScheduledGermination(epoch: 2, slot: "slot-0", blueprint: "widen-8")],
                group: "g/fixed_schedule", seed: 3, studyId: "S"
            ).objectValue)
        #expect(control["policy"] == .string("scheduled") && control["name"] == .string("g/fixed_schedule/seed-3"))
        let seeds = try #require(control["seeds"]?.objectValue)
        let blueprints = try json(#"["widen-8"]"#)
        let schedule = try json(#"[{"epoch": 2, "slot": "slot-0", "blueprint": "widen-8"}]"#)
        #expect(seeds["min_training_epochs"] == .int(2) && seeds["blueprints"] == blueprints)
        #expect(seeds["schedule"] == schedule)
        #expect(control["epochs"] == .int(9) && control["seed"] == .int(3) && control["experiment_name"] == .string("S"))
        // Nothing germinated: the same run without growth.
        let none = try #require(
            StudyPlanner.fixedSchedule(from: grown, germinations: [], group: "g/fixed_schedule", seed: 3, studyId: "S").objectValue)
        #expect(none["policy"] == nil && none["seeds"] == nil)
        #expect(StudyPlanner.grows(grown) && !StudyPlanner.grows(StudyPlanner.withoutGrowth(grown)))
    }
}
