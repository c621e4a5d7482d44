import EsperTestSupport
import Foundation
import KernelRuntime
import Leyline
import Testing
import Tolaria

@testable import Kasmina

/// A kernel with one bug, written the way such bugs are written — not around any check: it
/// wraps an honest branch and, once `armed`, misbehaves in one of several ways.
final class BuggyBranch: SeedBranch {
    enum Bug {
        /// Keeps its gradients in memory it was handed (a buffer shared with the host).
        case sharedGradientBuffer
        /// Backward also accumulates its gradients into a host gradient buffer it holds.
        case gradientIntoHost
        /// Forward normalises its input in place (x ← x / (1 + |x|)) before using it.
        case inPlaceInput
        /// Forward nudges a host weight it holds a pointer to (a tied weight "updated" early).
        case writesHostWeight
    }

    let inner: any SeedBranch
    let bug: Bug
    let host: UnsafeMutablePointer<Float>
    var armed = false

    init(_ inner: any SeedBranch, bug: Bug, host: UnsafeMutablePointer<Float>) {
        self.inner = inner
        self.bug = bug
        self.host = host
    }

    var parameterCount: Int { inner.parameterCount }
    var parameters: UnsafeMutablePointer<Float> { inner.parameters }
    var gradients: UnsafeMutablePointer<Float> { bug == .sharedGradientBuffer ? host : inner.gradients }
    var isResidual: Bool { inner.isResidual }
    var training: Bool {
        get { inner.training }
        set { inner.training = newValue }
    }
    var step: UInt64 {
        get { inner.step }
        set { inner.step = newValue }
    }

    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        if armed && bug == .inPlaceInput {
            let input = UnsafeMutablePointer(mutating: x)
            for i in 0..<(batch * 16) { input[i] = input[i] / (1 + abs(input[i])) }
        }
        if armed && bug == .writesHostWeight { host[0] += 1e-3 }
        try inner.forward(x, into: y, batch: batch)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        try inner.backward(outputGradient, inputGradient: inputGradient)
        if armed && bug == .gradientIntoHost {
            for i in 0..<min(16, parameterCount) { host[i] += inner.gradients[i] }
        }
    }
}

/// Each isolation check (02-kasmina §7) against a leak written independently of it, in the
/// stage where it matters, and once more with that check switched off: the leak then goes
/// unnoticed, so each test depends on its check.
@Suite(.serialized) struct IsolationLeakTests {
    struct Outcome {
        let manager: SeedManager
        let controller: ScriptedController
        var checks: [IsolationCheck] { manager.guardian.violations.map(\.check) }
    }

    /// Germinates BP008 at epoch 0, starts grafting at 1 (a 40-step ramp), arms the bug from
    /// epoch `armAt` on, and runs to epoch 4.
    static func run(
        _ bug: BuggyBranch.Bug?, host: (Trainer) -> UnsafeMutablePointer<Float>, armAt: Int = 2,
        settings: SeedSettings = SeedSettings(), detachLeakFrom: Int? = nil, disabled: Set<IsolationCheck> = []
    ) throws -> Outcome {
        var settings = settings
        settings.graftSteps = 40
        var hostPointer: UnsafeMutablePointer<Float>?
        var branches: [BuggyBranch] = []
        let manager = try GraftingTests.manager(settings) { compiled, block in
            let inner = try KernelBranch(compiled, block: block)
            guard let bug else { return inner }
            let branch = BuggyBranch(inner, bug: bug, host: hostPointer!)
            branches.append(branch)
            return branch
        }
        manager.guardian.disabledChecks = disabled
        var config = GraftingTests.config
        config.epochs = 5
        let controller = ScriptedController(
            manager: manager, script: [0: [Commands.germinate("BP008")], 1: [Commands.operation(.startGrafting, "seed-0-0")]])
        controller.after = { epoch, manager in
            if epoch + 1 >= armAt { branches.forEach { $0.armed = true } }
            if let from = detachLeakFrom, epoch + 1 >= from {
                manager.slotModules.first?.settings.faultInjection = SeedFaultInjection(detachLeak: true)
            }
        }
        let trainer = try GraftingTests.trainer(config, controller: controller)
        hostPointer = host(trainer)
        if armAt <= 0 { branches.forEach { $0.armed = true } }
        #expect(try trainer.run() == .completed)
        return Outcome(manager: manager, controller: controller)
    }

    static func hostGradients(_ trainer: Trainer) -> UnsafeMutablePointer<Float> { trainer.model.block.gradients }
    static func hostValues(_ trainer: Trainer) -> UnsafeMutablePointer<Float> { trainer.model.block.values }

    @Test func aCleanGraftRaisesNothing() throws {
        let clean = try IsolationLeakTests.run(nil, host: IsolationLeakTests.hostGradients)
        #expect(clean.checks.isEmpty)
        #expect(clean.manager.slotModules.first?.active?.stage == .grafting)
    }

    /// Aliasing: the kernel's gradient buffer is the host's — refused at attach (I1).
    @Test func aSharedGradientBufferIsRefusedAtAttach() throws {
        let caught = try IsolationLeakTests.run(.sharedGradientBuffer, host: IsolationLeakTests.hostGradients, armAt: 0)
        #expect(caught.checks == [.storageOverlap])
        #expect(caught.controller.results.first?.accepted == false)
        let unchecked = try IsolationLeakTests.run(
            .sharedGradientBuffer, host: IsolationLeakTests.hostGradients, armAt: 0, disabled: [.storageOverlap])
        #expect(!unchecked.checks.contains(.storageOverlap) && unchecked.controller.results.first?.accepted == true)
    }

    /// Missing detach while GRAFTING: the seed's input gradient reaches the host's (I3, which
    /// recomputes the host's (1 − α)·δ from its own copy of δ after the seed has run).
    @Test func aMissingDetachWhileGraftingIsCaughtByTheSplitCheck() throws {
        // The slot stops detaching from epoch 2, when the seed is GRAFTING (α < 1).
        let caught = try IsolationLeakTests.run(nil, host: IsolationLeakTests.hostGradients, detachLeakFrom: 2)
        #expect(caught.checks.count == 3 && caught.checks.allSatisfy { $0 == .blendedSplit })
        let finished = try #require(caught.controller.reports[2].finished.first)
        #expect(finished.cullReason == "isolation_breach" && finished.stageBeforeEnd == .grafting)
        let unchecked = try IsolationLeakTests.run(
            nil, host: IsolationLeakTests.hostGradients, detachLeakFrom: 2, disabled: [.blendedSplit])
        #expect(unchecked.checks.isEmpty && unchecked.manager.slotModules.first?.active?.stage == .grafting)
    }

    /// Gradient written into host memory while GRAFTING: I2 around the blended backward.
    @Test func gradientsWrittenIntoHostMemoryWhileGraftingAreCaught() throws {
        let caught = try IsolationLeakTests.run(.gradientIntoHost, host: IsolationLeakTests.hostGradients)
        #expect(caught.checks.count == 3 && caught.checks.allSatisfy { $0 == .seedBackwardLeak })
        let finished = try #require(caught.controller.reports[2].finished.first)
        #expect(finished.stageBeforeEnd == .grafting && finished.quarantine)
        let unchecked = try IsolationLeakTests.run(
            .gradientIntoHost, host: IsolationLeakTests.hostGradients, disabled: [.seedBackwardLeak])
        #expect(unchecked.checks.isEmpty)
    }

    /// In-place write to the input: the host's activation is protected by the copy h̄, and the
    /// write is seen by comparing h̄ with the activation the kernel never received (I4).
    @Test func anInPlaceWriteToTheInputIsCaught() throws {
        let caught = try IsolationLeakTests.run(.inPlaceInput, host: IsolationLeakTests.hostGradients)
        #expect(caught.checks.count == 3 && caught.checks.allSatisfy { $0 == .hostModified })
        #expect(caught.manager.guardian.violations.first?.detail.contains("wrote into its input") == true)
        let unchecked = try IsolationLeakTests.run(.inPlaceInput, host: IsolationLeakTests.hostGradients, disabled: [.hostModified])
        #expect(unchecked.checks.isEmpty)
    }

    /// A host weight written from the seed's forward (not its optimizer step): I4's digest
    /// around every seed call.
    @Test func aHostWeightWrittenByTheSeedsForwardIsCaught() throws {
        let caught = try IsolationLeakTests.run(.writesHostWeight, host: IsolationLeakTests.hostValues)
        #expect(caught.checks.count == 3 && caught.checks.allSatisfy { $0 == .hostModified })
        #expect(caught.manager.guardian.violations.first?.detail.contains("forward changed host parameters") == true)
        let unchecked = try IsolationLeakTests.run(.writesHostWeight, host: IsolationLeakTests.hostValues, disabled: [.hostModified])
        #expect(unchecked.checks.isEmpty)
    }

    /// BP046's kernel never returns. In a training run every seed call runs under a CPU
    /// deadline enforced from outside the call (a timer signal on the training thread): the
    /// call is stopped, the seed culled with `kernel_timeout` and its blueprint quarantined,
    /// and the run — the worker's training thread — carries on with the host function.
    @Test func aKernelThatNeverReturnsIsStoppedAndTheRunGoesOn() throws {
        let library = try BlueprintLibraryFixture(width: 16, blueprints: ["BP001", "BP046"])
        var settings = SeedSettings()
        settings.allowHighRisk = true
        let manager = SeedManager(
            runId: "hang", settings: settings, kernels: UrzaKernelProvider(urza: library.urza), budgetMs: 1000)
        manager.kernelCallBudgetNanoseconds = 50_000_000
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP046")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        #expect(controller.results.first?.accepted == true)
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.origin.kernelId == "BP046" && finished.cullReason == "kernel_timeout" && finished.quarantine)
        #expect(manager.slotModules.isEmpty && trainer.model.slots[0].module == nil, "the slot is the bare host again")
    }
}
