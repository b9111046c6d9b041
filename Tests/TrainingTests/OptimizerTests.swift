import Autograd
import Foundation
import Recipes
import Training
import XCTest
import _TestSupport

/// AdamW, the cosine schedule and clipping against torch / transformers (golden/adamw.*).
final class OptimizerTests: LoftTestCase {
    func golden() throws -> (GoldenTensors, [String: Any]) {
        (
            try GoldenTensors(path: Fixtures.golden("adamw.safetensors")),
            try Fixtures.json(Fixtures.golden("adamw.json"))
        )
    }

    func slice(_ values: [Float], _ index: Int, _ size: Int) -> [Float] {
        Array(values[(index * size)..<((index + 1) * size)])
    }

    /// Parameters atol 1e-6, moments rtol 1e-5 (the golden README's tolerances).
    func checkRun(prefix: String, steps: Int, lrs: (Int) -> Double) throws {
        let (g, _) = try golden()
        let p1 = Tensor(g["p1_init"], shape: [3, 4], requiresGrad: true)
        let p2 = Tensor(g["p2_init"], shape: [5], requiresGrad: true)
        let arena = ParameterArena([p1, p2])
        XCTAssertEqual(arena.ranges, [0..<12, 12..<17])
        let optimizer = AdamW(count: arena.count, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1)
        for t in 0..<steps {
            p1.grad = slice(g["\(prefix)grads_p1"], t, 12)
            p2.grad = slice(g["\(prefix)grads_p2"], t, 5)
            optimizer.update(arena, lr: lrs(t))
            assertClose(p1.data, slice(g["\(prefix)p1_steps"], t, 12), atol: 1e-6, "p1 step \(t + 1)")
            assertClose(p2.data, slice(g["\(prefix)p2_steps"], t, 5), atol: 1e-6, "p2 step \(t + 1)")
        }
        assertClose(Array(optimizer.m[0..<12]), g["\(prefix)exp_avg_p1"], atol: 1e-9, rtol: 1e-5)
        assertClose(Array(optimizer.v[0..<12]), g["\(prefix)exp_avg_sq_p1"], atol: 1e-12, rtol: 1e-5)
        assertClose(Array(optimizer.m[12..<17]), g["\(prefix)exp_avg_p2"], atol: 1e-9, rtol: 1e-5)
        assertClose(Array(optimizer.v[12..<17]), g["\(prefix)exp_avg_sq_p2"], atol: 1e-12, rtol: 1e-5)
        XCTAssertEqual(optimizer.step, steps)
    }

    func testAdamWConstantLearningRate() throws { try checkRun(prefix: "", steps: 5) { _ in 1e-3 } }

    func testAdamWWithCosineScheduleAndWarmup() throws {
        let (_, json) = try golden()
        let schedule = LRSchedule(kind: .cosine, peak: 1e-3, warmupSteps: 2, totalSteps: 10)
        let expected = try XCTUnwrap((json["run_cosine"] as? [String: Any])?["lr_per_step"] as? [Double])
        XCTAssertEqual(expected.count, 10)
        for (step, lr) in expected.enumerated() {
            XCTAssertEqual(schedule.learningRate(at: step), lr, accuracy: 1e-12 * max(lr, 1e-3), "step \(step + 1)")
        }
        XCTAssertEqual(schedule.learningRate(at: 10), 0, accuracy: 1e-15)
        try checkRun(prefix: "sched_", steps: 10) { schedule.learningRate(at: $0) }
    }

    func testLinearAndConstantSchedules() {
        let linear = LRSchedule(kind: .linear, peak: 1, warmupSteps: 2, totalSteps: 10)
        XCTAssertEqual(
            (0..<11).map { linear.learningRate(at: $0) }, [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0])
        let constant = LRSchedule(kind: .constant, peak: 2, warmupSteps: 4, totalSteps: 10)
        XCTAssertEqual((0..<6).map { constant.learningRate(at: $0) }, [0, 0.5, 1, 1.5, 2, 2])
    }

    func testClipGradNormMatchesTorch() throws {
        let (g, _) = try golden()
        var gradients = slice(g["grads_p1"], 0, 12) + slice(g["grads_p2"], 0, 5)  // one flat buffer, as an arena's
        let norm = gradients.withUnsafeMutableBufferPointer { GradientClipping.clip($0, maxNorm: 0.1) }
        XCTAssertEqual(norm, Double(g["clip_total_norm"][0]), accuracy: 1e-6)
        assertClose(Array(gradients[0..<12]), g["clip_g1"], atol: 1e-7)
        assertClose(Array(gradients[12..<17]), g["clip_g2"], atol: 1e-7)
        var small: [Float] = [0.01, 0.02]
        small.withUnsafeMutableBufferPointer { _ = GradientClipping.clip($0, maxNorm: 1) }
        XCTAssertEqual(small, [0.01, 0.02], "below the limit nothing changes")
    }
}

/// The spike guard (llm.c's -sl / -sg): z-scores over a window, skipped updates, exact resume.
final class SpikeGuardTests: LoftTestCase {
    func testZScoreOverAFullWindow() throws {
        var detector = OutlierDetector(window: 4)
        for value in [1.0, 2, 3, 4] {
            XCTAssertNil(detector.update(value), "nothing is judged until the window is full")
        }
        // mean 2.5, population std √1.25
        XCTAssertEqual(try XCTUnwrap(detector.update(100)), (100 - 2.5) / 1.25.squareRoot(), accuracy: 1e-12)
        // the window is now 2, 3, 4, 100
        XCTAssertEqual(try XCTUnwrap(detector.update(27.25)), 0, accuracy: 1e-12)
        var guardOff = SpikeGuard(window: 2)
        for step in 0..<6 {
            XCTAssertFalse(guardOff.shouldSkip(loss: Float(step * step), gradNorm: 1, lossBound: 0, gradBound: 0))
        }
    }

    /// With a bound so low that any loss above the window's mean is an outlier, some updates are
    /// skipped: the adapter is then unchanged by that step, the record says so, and stopping and
    /// resuming skips exactly the same steps with the same losses.
    func testSkippedUpdatesLeaveTheAdapterAndResumeExactly() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let extra = ["training.skip_loss_zscore=0.000001", "training.spike_window=2", "lora.dropout=0"]
        func run(_ name: String, stopAfter: Int?, resume: String?) throws -> [(
            loss: Float, skipped: Bool, weights: [Float]
        )] {
            let trainer = try Trainer(
                config: try smallRunConfig(name: name, steps: 8, checkpointEvery: 4, extra: extra),
                configFile: "test.yaml", runsRoot: root)
            var records: [(loss: Float, skipped: Bool, weights: [Float])] = []
            _ = try trainer.run(resume: resume) { event in
                guard case .step(let record) = event else { return .proceed }
                records.append(
                    (record.loss, record.skipped, trainer.model.trainableParameters.flatMap { $0.tensor.data }))
                return stopAfter.map { record.step >= $0 ? .stop : .proceed } ?? .proceed
            }
            return records
        }
        let straight = try run("guard", stopAfter: nil, resume: nil)
        XCTAssertEqual(straight.count, 8)
        let skipped = straight.indices.filter { straight[$0].skipped }
        XCTAssertFalse(skipped.isEmpty, "a near-zero bound skips some updates: \(straight.map(\.loss))")
        XCTAssertLessThan(skipped.count, 8)
        for index in skipped where index > 0 {
            XCTAssertEqual(straight[index].weights, straight[index - 1].weights, "step \(index + 1) skipped")
        }
        for index in straight.indices where index > 0 && !straight[index].skipped {
            XCTAssertNotEqual(straight[index].weights, straight[index - 1].weights, "step \(index + 1) updated")
        }
        let first = try run("guard-split", stopAfter: 4, resume: nil)
        let second = try run("guard-split", stopAfter: nil, resume: "latest")
        XCTAssertEqual((first + second).map(\.loss), straight.map(\.loss))
        XCTAssertEqual((first + second).map(\.skipped), straight.map(\.skipped))
    }
}
