import Foundation
import Recipes
import XCTest
import _TestSupport

/// A two-cell miniature of the LoftQ table on stories260K (2-bit QLoRA vs LoftQ, 4 steps each):
/// results, skipping finished cells, resuming an interrupted one to the same numbers, the tables
/// and the picture.
final class ExperimentTests: LoftTestCase {
    /// Writes the base run config, a short text to score and the experiment into `root`.
    func makeExperiment(in root: URL) throws -> String {
        let text = try String(contentsOfFile: try Fixtures.data("wikitext-2-raw/wiki.test.raw"), encoding: .utf8)
        let short =
            text.split(separator: "\n", omittingEmptySubsequences: false).prefix(120).joined(separator: "\n") + "\n"
        try short.write(to: root.appendingPathComponent("score.raw"), atomically: true, encoding: .utf8)
        try """
        name: base
        model:
          path: \(try Fixtures.data("models/stories260K/stories260K.bin"))
          tokenizer: \(try Fixtures.data("models/stories260K/tok512.model"))
        quantization: {bits: 4}
        lora: {rank: 4, alpha: 4, dropout: 0, loftq_iters: 2}
        data:
          dataset: wikitext2
          train_path: \(try Fixtures.data("wikitext-2-raw/wiki.valid.raw"))
          eval_path: null
          max_seq_len: 64
        training: {seed: 7, batch_size: 4, max_steps: 4, learning_rate: 2e-3, warmup_steps: 1}
        checkpoint: {every_steps: 1, keep_last: 1}
        eval: {every_steps: 0}
        logging: {every_steps: 1}
        """.write(to: root.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let file = root.appendingPathComponent("mini.yaml")
        try """
        name: mini
        base: base.yaml
        set: [quantization.bits=2]
        evaluate:
          perplexity: {data: \(root.appendingPathComponent("score.raw").path), seq_len: 64, batch: 8}
        cells:
          - {name: qlora-2, set: [lora.init=gaussian]}
          - {name: loftq-2, set: [lora.init=loftq]}
        """.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func testGridRunsSkipsFinishedCellsAndResumesToTheSameNumbers() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let file = try makeExperiment(in: root)
        let runner = try ExperimentRunner(file: file, runsRoot: root.appendingPathComponent("runs"))
        var finished: [String] = []
        XCTAssertEqual(try runner.run { if case .cellFinished(let r) = $0 { finished.append(r.cell) } }, .completed)
        XCTAssertEqual(finished, ["qlora-2", "loftq-2"])
        let results = try runner.results()
        XCTAssertEqual(results.map(\.method), ["qlora", "loftq"])
        let (qlora, loftq) = (results[0], results[1])
        // LoftQ's point: at 2 bits its start is far closer to the fp32 model than plain quantization.
        XCTAssertLessThan(try XCTUnwrap(loftq.start.initError), try XCTUnwrap(loftq.start.plainError))
        XCTAssertLessThan(try XCTUnwrap(loftq.start.perplexity), try XCTUnwrap(qlora.start.perplexity))
        XCTAssertEqual(loftq.start.matrixErrors.count, 5 * 7, "one entry per quantized target (5 layers × 7)")
        XCTAssertEqual(loftq.steps, 4)
        for r in results { XCTAssertNotEqual(r.final.perplexity, r.start.perplexity, "\(r.cell) trained") }

        // A rerun trains nothing.
        var skipped: [String] = []
        XCTAssertEqual(try runner.run { if case .cellSkipped(let cell) = $0 { skipped.append(cell) } }, .completed)
        XCTAssertEqual(skipped, ["qlora-2", "loftq-2"])

        // Interrupted after two steps, then run again: the same final numbers as uninterrupted.
        let other = try ExperimentRunner(file: file, runsRoot: root.appendingPathComponent("runs-interrupted"))
        var steps = 0
        let outcome = try other.run(only: ["loftq-2"], shouldStop: { steps >= 2 }) { event in
            if case .training(_, .step) = event { steps += 1 }
        }
        XCTAssertEqual(outcome, .interrupted(cell: "loftq-2"))
        XCTAssertTrue(try other.results().isEmpty)
        var resumed = false
        XCTAssertEqual(
            try other.run(only: ["loftq-2"]) { if case .cellStarted(_, _, _, let r) = $0 { resumed = r } }, .completed)
        XCTAssertTrue(resumed, "the second sitting resumes from the checkpoint")
        let again = try XCTUnwrap(try other.results().first)
        XCTAssertEqual(again.final.perplexity, loftq.final.perplexity)
        XCTAssertEqual(again.start.perplexity, loftq.start.perplexity)
        XCTAssertEqual(again.timing.sittings, 2)

        let table = ExperimentReport.table(results)
        XCTAssertTrue(
            table.contains("| qlora-2 | qlora | 2.00 |") && table.contains("| loftq-2 | loftq | 2.00 |"), table)
        XCTAssertEqual(
            ExperimentReport.layerTable(results).split(separator: "\n").count, 2 + 5, "header, rule, 5 layers")
        let curve = try ExperimentPlot.lossCurve(runFolder: runner.directory.appendingPathComponent("loftq-2"))
        XCTAssertEqual(curve.map(\.x), [1, 2, 3, 4])
        let svg = ExperimentPlot.svg(
            title: "mini", results: results,
            curves: [ExperimentPlot.Series(label: "loftq-2", points: curve, dashed: false)])
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains("loftq"), svg)

        // A GSM8K grid (accuracy, no perplexity) plots accuracy against bits.
        var gsm8kResults: [CellResult] = []
        for (index, cell) in ["qlora-2", "loftq-2"].enumerated() {
            let source = runner.directory.appendingPathComponent(cell).appendingPathComponent("result.json")
            var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
            var final = try XCTUnwrap(json["final"] as? [String: Any])
            for key in ["perplexity", "mean_nll", "nll_standard_error"] { final[key] = nil }
            (final["gsm8k_accuracy"], final["gsm8k_questions"]) = (0.25 * Double(index + 1), 200)
            json["final"] = final
            let folder = root.appendingPathComponent("gsm8k-\(cell)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("result.json"))
            gsm8kResults.append(try XCTUnwrap(try CellResult.read(folder)))
        }
        let accuracySVG = ExperimentPlot.svg(title: "mini", results: gsm8kResults, curves: [])
        XCTAssertTrue(
            accuracySVG.contains("final GSM8K accuracy (%)") && !accuracySVG.contains("accuracy (%): no data"),
            accuracySVG)
        XCTAssertTrue(accuracySVG.contains("<polyline"), "the accuracies are drawn: \(accuracySVG)")
    }

    /// A diverging cell (the paper's "N.A.") is recorded and the grid goes on to the next cell;
    /// a rerun skips it unless asked to retry.
    func testAFailingCellIsRecordedAndTheGridGoesOn() throws {
        let root = try Fixtures.temporaryDirectory(self)
        _ = try makeExperiment(in: root)
        let file = root.appendingPathComponent("failing.yaml")
        try """
        name: failing
        base: base.yaml
        evaluate:
          perplexity: {data: \(root.appendingPathComponent("score.raw").path), seq_len: 64, batch: 8}
        cells:
          - {name: diverges, set: [lora.init=gaussian, training.learning_rate=1e30, training.max_grad_norm=0]}
          - {name: loftq-4, set: [lora.init=loftq]}
        """.write(to: file, atomically: true, encoding: .utf8)
        let runner = try ExperimentRunner(file: file.path, runsRoot: root.appendingPathComponent("runs"))
        var failed: [String] = []
        XCTAssertEqual(try runner.run { if case .cellFailed(let cell, _) = $0 { failed.append(cell) } }, .completed)
        XCTAssertEqual(failed, ["diverges"])
        XCTAssertEqual(try runner.results().map(\.cell), ["loftq-4"])
        XCTAssertEqual(runner.failures().map(\.cell), ["diverges"])
        XCTAssertTrue(
            runner.failures()[0].error.contains("not finite") || runner.failures()[0].error.contains("non-finite"),
            runner.failures()[0].error)
        let table = ExperimentReport.table(try runner.results(), failures: runner.failures())
        XCTAssertTrue(table.contains("- diverges: failed — "), table)
        var skipped: [String] = []
        _ = try runner.run { if case .cellSkipped(let cell) = $0 { skipped.append(cell) } }
        XCTAssertEqual(skipped, ["diverges", "loftq-4"])
    }

    func testBadExperimentFilesNameTheKey() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let cases: [(String, String)] = [
            ("name: x\nbase: b.yaml\nevaluate: {}\ncells: [{name: a}]\ncolour: red\n", "colour"),
            (
                "name: x\nbase: b.yaml\nevaluate: {perplexity: {data: t, seqlen: 5}}\ncells: [{name: a}]\n",
                "perplexity.seqlen"
            ),
            ("name: x\nbase: b.yaml\nevaluate: {}\ncells: [{name: a}, {name: a}]\n", "appears twice"),
            ("name: x\nbase: b.yaml\nevaluate: {}\ncells: [{name: ../up}]\n", "cells.name"),
            ("name: x\nbase: b.yaml\nevaluate: {}\ncells: []\n", "at least one cell"),
        ]
        for (index, (yaml, expected)) in cases.enumerated() {
            let file = root.appendingPathComponent("bad\(index).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try ExperimentConfig.load(file.path)) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
    }
}
