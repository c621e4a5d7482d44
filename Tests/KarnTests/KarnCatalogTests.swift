import EsperJSON
import Foundation
import Testing

@testable import Karn

@Suite struct KarnCatalogTests {
    @Test func defaultCatalogHasTheFiftyTemplatesOfTheSpec() throws {
        let catalog = try KarnCatalog()
        #expect(catalog.count == 58)
        let slotTemplates = catalog.all().filter { !$0.isHostShaped }
        #expect(slotTemplates.count == 50 && slotTemplates.allSatisfy { $0.family == "slot" })
        #expect(catalog.listByTier(.safe).count == 43, "35 of the 50, the widening, structure and depth families")
        #expect(catalog.listByTier(.experimental).count == 7)
        #expect(catalog.listByTier(.highRisk).count == 8)
        let first = try #require(catalog.listByTier(.safe).first)
        #expect(first.id == "BP001" && first.descriptor.stage == 0 && first.descriptor.risk == 0)
        #expect(catalog.all().map(\.id) == (1...58).map { String(format: "BP%03d", $0) })
        // Spot checks against 05 §3.
        let bp036 = try #require(catalog.get("BP036"))
        #expect(bp036.name == "mixture_of_experts_4" && bp036.tier == .experimental && bp036.risk == 0.7 && bp036.stage == 5)
        #expect(bp036.allowedParameters == ["experts": ParameterBounds(4, 8), "capacity": ParameterBounds(1, 2)])
        #expect(bp036.approvalRequired && !bp036.quarantineOnly)
        let bp048 = try #require(catalog.get("BP048"))
        #expect(bp048.quarantineOnly && bp048.approvalRequired && bp048.risk == 1.0 && bp048.stage == 6)
        #expect(catalog.template("BP003")?.forgeParameters == ["epsilon": 0.0005005])
        #expect(catalog.template("BP017")?.forgeParameters == ["heads": 2.5])
    }

    /// The widening family after the 50 defaults: SAFE, risk 0.1, no parameters, found by id or
    /// alias, with its parameter-count formula; requests validate like any template's.
    @Test func wideningTemplatesFollowTheDefaults() throws {
        let catalog = try KarnCatalog()
        let widening = catalog.all().filter { $0.family == "widening" }
        #expect(widening.map(\.id) == ["BP051", "BP052", "BP053"])
        for template in widening {
            let d = template.descriptor
            #expect(d.tier == .safe && d.risk == 0.1 && !d.approvalRequired && !d.quarantineOnly && d.allowedParameters.isEmpty)
            #expect(template.family == "widening" && template.kind == "widen")
        }
        #expect(catalog.template("widen-8")?.id == "BP052" && catalog.get("widen-16")?.name == "widen_16_units")
        #expect(catalog.template("widen-3") == nil)
        #expect(WideningCatalog.units("BP051") == 4 && WideningCatalog.units("widen-8") == 8 && WideningCatalog.units("BP008") == nil)
        // digits' 64 → 4 → 10 host, widening layer 0 by 8: U 8×64, c 8, V 10×8.
        #expect(WideningCatalog.parameterCount(units: 8, inputs: 64, outputs: 10) == 600)
        let validated = try catalog.validateRequest(id: "widen-8", parameters: [:])
        #expect(validated.template.id == "BP052" && validated.effective.isEmpty)
        #expect(throws: KarnError.self) { try catalog.validateRequest(id: "BP052", parameters: ["units": 8]) }

        let json = try JSONValue.parse(try JanssonEncoder().encode(try #require(catalog.template("BP052"))))
        #expect(json["family"] == "widening" && json["alias"] == "widen-8" && json["tier"] == "BLUEPRINT_TIER_SAFE")
        #expect(json["parameter_count"]?.stringValue == "k·(d_in + 1) + d_out·k, k = 8")
        let slot = try JSONValue.parse(try JanssonEncoder().encode(try #require(catalog.template("BP008"))))
        #expect(slot["family"] == "slot" && slot["alias"] == nil && slot["parameter_count"] == nil)
    }

    /// The structure family after the widening family: conv branches, SAFE, risk 0.15, no
    /// parameters, host-shaped (never compiled by the forge), found by id or alias, with the
    /// parameter-count formula.
    @Test func structureTemplatesFollowTheWideningFamily() throws {
        let catalog = try KarnCatalog()
        let structure = catalog.all().filter { $0.family == "structure" }
        #expect(structure.map(\.id) == ["BP054", "BP055", "BP056"])
        for template in structure {
            let d = template.descriptor
            #expect(d.tier == .safe && d.risk == 0.15 && !d.approvalRequired && d.allowedParameters.isEmpty)
            #expect(template.isHostShaped && template.kind == "conv_branch")
        }
        #expect(catalog.template("conv-branch-16")?.id == "BP055" && catalog.get("conv-branch-25")?.name == "conv_branch_25_channels")
        #expect(WideningCatalog.alias("BP054") == "conv-branch-8" && WideningCatalog.templateId("conv-branch-8") == "BP054")
        let json = try JSONValue.parse(try JanssonEncoder().encode(try #require(catalog.template("BP055"))))
        #expect(json["family"] == "structure" && json["alias"] == "conv-branch-16")
        #expect(json["parameter_count"]?.stringValue?.hasPrefix("Σ_i (k·kernel_i·c_in,i + k) + d_out·k·L_out, k = 16") == true)
        let validated = try catalog.validateRequest(id: "conv-branch-8", parameters: [:])
        #expect(validated.template.id == "BP054")
    }

    /// One definition of the shared fields: Karn's descriptor wraps Leyline's and forwards to it.
    @Test func theCatalogDescriptorWrapsTheContractDescriptor() throws {
        let catalog = try KarnCatalog()
        var d = try #require(catalog.get("BP036"))
        #expect(d.contract.blueprintId == "BP036" && d.contract.stage == 5 && d.contract.tier == .experimental)
        #expect(d.contract.allowedParameters["experts"] == ParameterBounds(4, 8))
        d.stage = 3
        d.risk = 0.25
        #expect(d.contract.stage == 3 && d.contract.risk == 0.25 && d.lastUpdated == KarnCatalog.catalogRevision)
        let wrapped = BlueprintDescriptor(contract: d.contract, approvalStamp: "ops", lastUpdated: "2026-01-01T00:00:00Z")
        #expect(wrapped.name == "mixture_of_experts_4" && wrapped.stage == 3 && wrapped.approvalStamp == "ops")
        #expect(catalog.get("BP036")?.stage == 5, "the catalog handed out a copy")
    }

    @Test func theWideningCheckRejectsABrokenFamily() throws {
        var rows = WideningCatalog.rows
        rows[1].descriptor.tier = .experimental
        #expect(throws: KarnError.self) { try WideningCatalog.check(rows, after: DefaultCatalog.rows) }
        rows = WideningCatalog.rows
        rows.swapAt(0, 2)
        #expect(throws: KarnError.self) { try WideningCatalog.check(rows, after: DefaultCatalog.rows) }
        rows = WideningCatalog.rows
        rows[0].recipe = .identity
        #expect(throws: KarnError.self) { try WideningCatalog.check(rows, after: DefaultCatalog.rows) }
        rows = WideningCatalog.rows
        rows[2].descriptor.name = "skip_connection"
        #expect(throws: KarnError.self) { try WideningCatalog.check(rows, after: DefaultCatalog.rows) }
        #expect(throws: Never.self) { try WideningCatalog.check(WideningCatalog.rows, after: DefaultCatalog.rows) }
    }

    @Test func theCatalogCheckRejectsABrokenTable() throws {
        var rows = DefaultCatalog.rows
        rows[3].descriptor.quarantineOnly = true
        #expect(throws: KarnError.self) { try KarnCatalog.check(rows) }
        rows = DefaultCatalog.rows
        rows[12].recipe = .groupedLinear(groups: "grops")
        #expect(throws: KarnError.self) { try KarnCatalog.check(rows) }
        rows = DefaultCatalog.rows
        rows.swapAt(0, 1)
        #expect(throws: KarnError.self) { try KarnCatalog.check(rows) }
        #expect(throws: Never.self) { try KarnCatalog.check(DefaultCatalog.rows) }
    }

    /// 05 §6 golden vectors: every column, every context.
    @Test(arguments: [
        ("control-run", UInt32(1_436_219_274), "BP001", "BP036", "BP005", "BP025"),
        ("exp", UInt32(3_715_798_125), "BP040", "BP040", "BP006", "BP026"),
        ("run-1", UInt32(1_315_296_251), "BP018", "BP039", "BP002", "BP002"),
        ("seed-0", UInt32(2_398_970_216), "BP021", "BP042", "BP007", "BP017"),
    ])
    func goldenSelections(
        context: String, prefix: UInt32, byDefault: String, experimental: String,
        conservative: String, adversarial: String
    ) throws {
        let catalog = try KarnCatalog()
        let plain = try catalog.chooseTemplate(SelectionCriteria(context: context))
        #expect(plain.template.id == byDefault && plain.candidateCount == 42 && plain.contextHashPrefix == prefix)
        let exp = try catalog.chooseTemplate(SelectionCriteria(tier: .experimental, context: context))
        #expect(exp.template.id == experimental && exp.candidateCount == 7)
        let safe = try catalog.chooseTemplate(SelectionCriteria(context: context, conservative: true))
        #expect(safe.template.id == conservative && safe.candidateCount == 10)
        let all = try catalog.chooseTemplate(SelectionCriteria(context: context, allowAdversarial: true))
        #expect(all.template.id == adversarial && all.candidateCount == 50)
        // Repeated calls agree.
        #expect(try catalog.chooseTemplate(SelectionCriteria(context: context)).template.id == byDefault)
    }

    @Test func noContextOrAnEmptyOnePicksTheFirstCandidate() throws {
        let catalog = try KarnCatalog()
        for context in [nil, ""] as [String?] {
            #expect(try catalog.chooseTemplate(SelectionCriteria(context: context)).template.id == "BP001")
            #expect(try catalog.chooseTemplate(SelectionCriteria(tier: .experimental, context: context)).template.id == "BP036")
            #expect(try catalog.chooseTemplate(SelectionCriteria(context: context, conservative: true)).template.id == "BP001")
            #expect(try catalog.chooseTemplate(SelectionCriteria(context: context, allowAdversarial: true)).template.id == "BP001")
        }
    }

    @Test func conservativeModeNeverLeavesTheSafeTierAndUsesTheSpecsPool() throws {
        let catalog = try KarnCatalog()
        let pool = Set(
            (0..<200).map { i in try! catalog.chooseTemplate(SelectionCriteria(context: "c\(i)", conservative: true)).template.id })
        #expect(pool == ["BP001", "BP002", "BP003", "BP004", "BP005", "BP006", "BP007", "BP008", "BP009", "BP010"])
        #expect(throws: KarnError.self) {
            try catalog.chooseTemplate(SelectionCriteria(tier: .experimental, context: "exp", conservative: true))
        }
        #expect(throws: KarnError.self) { try catalog.chooseTemplate(SelectionCriteria(tier: .highRisk)) }
        #expect(try catalog.chooseTemplate(SelectionCriteria(tier: .highRisk, allowAdversarial: true)).template.id == "BP043")
    }

    @Test func customRegistrationKeepsValuesAndOrder() throws {
        let catalog = try KarnCatalog(loadDefaults: false)
        let custom = BlueprintDescriptor(
            blueprintId: "bp-1", name: "custom", tier: .safe,
            allowedParameters: ["alpha": ParameterBounds(0, 1)], risk: 0.2, stage: 1,
            description: "custom")
        catalog.register(custom)
        #expect(catalog.get("bp-1") == custom)
        #expect(catalog.listByTier(.safe).first?.id == "bp-1")
        #expect(try catalog.validateRequest(id: "bp-1", parameters: ["alpha": 0.5]).effective == ["alpha": 0.5])
        #expect(try catalog.validateRequest(id: "bp-1", parameters: ["alpha": 0.2]).requested == ["alpha": 0.2])
        var replaced = custom
        replaced.description = "changed"
        catalog.register(BlueprintDescriptor(blueprintId: "bp-2", name: "two", tier: .safe, risk: 0, stage: 0, description: ""))
        catalog.register(replaced)
        #expect(catalog.all().map(\.id) == ["bp-1", "bp-2"])  // a replaced id keeps its position
        #expect(catalog.get("bp-1")?.description == "changed")
        catalog.remove("bp-9")  // no-op
        catalog.remove("bp-1")
        #expect(catalog.count == 1)
    }

    @Test func validationNamesTheParameterAndItsBounds() throws {
        let catalog = try KarnCatalog()
        func problems(_ id: String, _ parameters: [String: Double]) -> [ParameterProblem] {
            do {
                _ = try catalog.validateRequest(id: id, parameters: parameters)
                return []
            } catch {
                if case .invalidParameters(_, let problems) = error { return problems }
                return []
            }
        }
        let missing = problems("BP002", [:])
        #expect(missing.map(\.parameter) == ["scale"] && missing[0].reason == .missing)
        #expect(missing[0].message.contains("[0.5, 2]"))
        let outside = problems("BP002", ["scale": 2.5])
        #expect(outside[0].reason == .outOfBounds && outside[0].message.contains("2.5 is outside [0.5, 2]"))
        #expect(problems("BP002", ["scale": .nan])[0].reason == .notFinite)
        #expect(problems("BP002", ["scale": .infinity])[0].reason == .notFinite)
        let typo = problems("BP004", ["dropuot": 0.1, "dropout": 0.1])
        #expect(typo.map(\.parameter) == ["dropuot"] && typo[0].reason == .unknown && typo[0].message.contains("dropout"))
        #expect(problems("BP001", ["x": 1])[0].reason == .unknown)
        // Reference semantics keep the old leniency, but report what was ignored.
        let lenient = try catalog.validateRequest(id: "BP004", parameters: ["dropuot": 0.1, "dropout": 0.1], strictness: .reference)
        #expect(lenient.ignoredKeys == ["dropuot"])
        // Bounds are inclusive; integer parameters take effect rounded half away from zero.
        #expect(try catalog.validateRequest(id: "BP002", parameters: ["scale": 0.5]).effective == ["scale": 0.5])
        #expect(try catalog.validateRequest(id: "BP017", parameters: ["heads": 2.5]).effective == ["heads": 3])
        #expect(try catalog.validateRequest(id: "BP017", parameters: ["heads": 2.5]).requested == ["heads": 2.5])
        #expect(throws: KarnError.notFound("BP999")) { try catalog.validateRequest(id: "BP999", parameters: [:]) }
    }

    @Test func descriptorJSONCarriesEveryFieldAndReadsTheReferenceForm() throws {
        let catalog = try KarnCatalog()
        let json = try JSONValue.parse(try JanssonEncoder().encode(try #require(catalog.get("BP002"))))
        #expect(json["tier"] == "BLUEPRINT_TIER_SAFE")
        #expect(json["risk"]?.doubleValue == 0.1)  // a float32 printed as 0.1, not 0.10000000149
        #expect(json["allowed_parameters"]?["scale"]?["min_value"]?.doubleValue == 0.5)
        for key in [
            "blueprint_id", "name", "stage", "quarantine_only", "approval_required", "description", "approval_stamp", "last_updated",
        ] {
            #expect(json[key] != nil, "missing \(key)")
        }
        // The reference writer leaves defaults out: missing fields read as zero values.
        let reference = #"{"blueprint_id":"BPX","tier":"BLUEPRINT_TIER_EXPERIMENTAL","allowed_parameters":{"alpha":{"max_value":1}}}"#
        let decoded = try JanssonDecoder().decode(BlueprintDescriptor.self, from: Array(reference.utf8))
        #expect(decoded.risk == 0 && decoded.stage == 0 && decoded.name == "" && decoded.tier == .experimental)
        #expect(decoded.allowedParameters["alpha"] == ParameterBounds(0, 1))
        #expect(try JanssonDecoder().decode(BlueprintDescriptor.self, from: Array(#"{"tier":2}"#.utf8)).tier == .experimental)
    }

    @Test func theServiceRequiresApprovalAndTripsItsBreaker() throws {
        let telemetry = InMemoryBlueprintTelemetry()
        let service = KarnService(catalog: try KarnCatalog(), telemetry: telemetry, failureThreshold: 3, openSeconds: 3600)
        #expect(throws: KarnError.approvalRequired(blueprintId: "BP040", tier: .experimental)) {
            try service.select(SelectionCriteria(context: "exp"), approved: false)
        }
        #expect(try service.select(SelectionCriteria(context: "exp"), approved: true).template.id == "BP040")
        #expect(try service.select(SelectionCriteria(context: "control-run"), approved: false).template.id == "BP001")
        #expect(throws: KarnError.self) { try service.validate(id: "BP036", parameters: ["experts": 4, "capacity": 1], approved: false) }
        #expect(try service.validate(id: "BP036", parameters: ["experts": 4, "capacity": 1], approved: true).effective["experts"] == 4)
        #expect(!telemetry.metrics(named: "karn.template.selection_ms").isEmpty)
        #expect(!telemetry.metrics(named: "karn.blueprint.request_total").isEmpty)

        // Three validation failures open the breaker: selection is then conservative.
        for _ in 0..<3 { _ = try? service.validate(id: "BP002", parameters: ["scale": 9], approved: true) }
        #expect(service.breakerState == .open)
        let forced = try service.select(SelectionCriteria(context: "seed-0"), approved: false)
        #expect(forced.conservativePool && forced.template.id == "BP007")
        #expect(telemetry.events(named: "breaker_open").count == 1)
    }

    @Test func theBreakerProbesOnceAfterItsTimeout() throws {
        let service = KarnService(catalog: try KarnCatalog(), telemetry: InMemoryBlueprintTelemetry(), failureThreshold: 3, openSeconds: 0)
        for _ in 0..<3 { _ = try? service.validate(id: "BP002", parameters: [:], approved: true) }
        #expect(service.breakerState == .halfOpen)
        let probe = try service.select(SelectionCriteria(context: "run-1"), approved: false)
        #expect(!probe.conservativePool && probe.template.id == "BP018")
        #expect(service.breakerState == .closed)
    }
}
