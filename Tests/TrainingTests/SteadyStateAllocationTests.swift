import Autograd
import Benchmarks
import CMallocCounter
import Foundation
import Recipes
import Training
import XCTest
import _TestSupport

/// Steady-state training steps take their Float buffers (activations, gradients, op scratch,
/// dequantized tiles, bf16 copies) from the step arena, never from the system; a malloc counter
/// linked into the test process (`CMallocCounter`) shows what still reaches malloc.
final class SteadyStateAllocationTests: LoftTestCase {
    /// Counts at one moment.
    struct Counts {
        let arena = StepArena.statistics
        let mallocCalls = loft_malloc_calls(), mallocBytes = loft_malloc_bytes()
    }

    /// Training steps on a model whose activations outweigh the tape's bookkeeping (NF4 base,
    /// 2 layers of width 256, batch 2 × 128), with and without the arena. With it, steps 3–5 ask
    /// the system for no buffer and malloc sees under 5% of the bytes the arena served (the
    /// tape's nodes, closures and shapes: about a hundred bytes per op, against ≥ 64 KB for an
    /// activation); without it, malloc sees every buffer (the control that the counter counts).
    func testStepsAfterTheFirstTakeEveryBufferFromTheArena() throws {
        XCTAssertEqual(loft_malloc_counter_active(), 1, "the test process must call the counting malloc")
        let options = try ModelBenchmark.Options(
            preset: nil, dim: 256, layers: 2, heads: 4, kvHeads: 2, hidden: 512, vocab: 1024,
            bits: "4", rank: 8, batch: 2, sequence: 128, steps: 1, activationCheckpointing: false)
        let model = try ModelBenchmark.buildModel(options)
        let arena = ParameterArena(model.trainableParameters.map(\.tensor))
        let optimizer = AdamW(count: arena.count, weightDecay: 0.01)
        var rng = RandomState(seed: 3).split("tokens")
        let tokens = (0..<256).map { _ in Int32(rng.next() % 1024) }
        func step() {
            StepArena.beginBatch(shape: [2, 128])  // as a training loop announces its batches
            let loss = model.loss(tokens: tokens, labels: tokens, batch: 2, steps: 128)
            loss.backward()
            optimizer.update(arena, lr: 1e-3)
            arena.zeroGrads()
        }

        // Without the arena: every buffer goes to malloc.
        step()
        let plainStart = Counts()
        step()
        let plainEnd = Counts()
        let plainBuffers = plainEnd.arena.systemBytes - plainStart.arena.systemBytes
        XCTAssertGreaterThan(plainBuffers, 4 << 20, "a step's buffers")
        XCTAssertGreaterThanOrEqual(
            plainEnd.mallocBytes - plainStart.mallocBytes, plainBuffers, "malloc sees every buffer")

        StepArena.begin()
        defer { StepArena.end() }
        for _ in 0..<2 { step(); StepArena.endStep() }
        let start = Counts()
        for _ in 0..<3 { step(); StepArena.endStep() }
        let end = Counts()
        XCTAssertEqual(
            end.arena.systemAllocations - start.arena.systemAllocations, 0, "no buffer from the system in steady state")
        let served = end.arena.reusedBytes - start.arena.reusedBytes
        XCTAssertGreaterThanOrEqual(served, 3 * plainBuffers * 9 / 10, "the arena serves the step's buffers")
        let mallocBytes = end.mallocBytes - start.mallocBytes
        XCTAssertLessThan(
            Double(mallocBytes), 0.05 * Double(served),
            "malloc'd \(mallocBytes) bytes in 3 steps; arena served \(served)")
        XCTAssertGreaterThan(end.arena.cachedBytes, 0, "a step's buffers wait for the next step")
        StepArena.beginBatch(shape: [2, 128])
        XCTAssertEqual(StepArena.statistics.cachedBytes, end.arena.cachedBytes, "the same shape keeps them")
        StepArena.beginBatch(shape: [2, 96])
        XCTAssertEqual(StepArena.statistics.cachedBytes, 0, "another shape hands them back to the heap")
    }

    /// The trainer keeps the arena: on fixed-length batches (WikiText blocks) with LoRA dropout,
    /// gradient accumulation and clipping, steps 3–6 ask the system for no buffer.
    func testTrainerStepsAllocateNoBuffersOnFixedLengthBatches() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let config = try smallRunConfig(
            name: "arena", steps: 6,
            extra: [
                "data.dataset=wikitext2", "data.train_path=\(try Fixtures.data("wikitext-2-raw/wiki.valid.raw"))",
                "data.max_seq_len=64", "data.limit_train=64", "training.max_grad_norm=1.0",
            ])
        let trainer = try Trainer(config: config, configFile: "test.yaml", runsRoot: root)
        var atStep: [Int: StepArena.Statistics] = [:]
        _ = try trainer.run { event in
            if case .step(let record) = event { atStep[record.step] = StepArena.statistics }
            return .proceed
        }
        let (third, sixth) = (try XCTUnwrap(atStep[3]), try XCTUnwrap(atStep[6]))
        XCTAssertEqual(
            sixth.systemAllocations - third.systemAllocations, 0, "steps 4–6 took every buffer from the arena")
        XCTAssertGreaterThan(sixth.reuses - third.reuses, 100)
        XCTAssertEqual(StepArena.statistics.cachedBytes, 0, "the arena is empty once the run ends")
    }
}
