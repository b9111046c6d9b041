import Autograd
import Foundation
import XCTest
import _TestSupport

/// `loft experiment` and `loft plot` end to end: a one-cell grid, its table, a rerun that skips
/// it, the SVG, and a bad key named.
final class ExperimentCLITests: LoftTestCase {
    func testExperimentThenPlot() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let text = try String(contentsOfFile: try Fixtures.data("wikitext-2-raw/wiki.test.raw"), encoding: .utf8)
        let score = root.appendingPathComponent("score.raw")
        try (text.split(separator: "\n", omittingEmptySubsequences: false).prefix(60).joined(separator: "\n") + "\n")
            .write(to: score, atomically: true, encoding: .utf8)
        let model = try Fixtures.data("models/stories260K/stories260K.bin")
        let tokenizer = try Fixtures.data("models/stories260K/tok512.model")
        let wikitext = try Fixtures.data("wikitext-2-raw/wiki.valid.raw")
        try """
        name: base
        model: {path: \(model), tokenizer: \(tokenizer)}
        quantization: {bits: 2}
        lora: {rank: 4, alpha: 4, loftq_iters: 1}
        data: {dataset: wikitext2, train_path: \(wikitext), eval_path: null, max_seq_len: 64}
        training: {batch_size: 2, max_steps: 2}
        logging: {every_steps: 1}
        """.write(to: root.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let experiment = root.appendingPathComponent("e.yaml")
        try """
        name: e
        base: base.yaml
        evaluate: {perplexity: {data: \(score.path), seq_len: 64, batch: 4}}
        cells: [{name: loftq-2}]
        """.write(to: experiment, atomically: true, encoding: .utf8)
        let runs = root.appendingPathComponent("runs").path
        let (status, out, err) = try runLoft(["experiment", "--config", experiment.path, "--runs-dir", runs])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("| loftq-2 | loftq | 2.00 | 4 / 4 |"), out)
        let (again, _, againErr) = try runLoft(["experiment", "--config", experiment.path, "--runs-dir", runs])
        XCTAssertEqual(again, 0, againErr)
        XCTAssertTrue(againErr.contains("before, skipped"), againErr)
        let svg = root.appendingPathComponent("e.svg").path
        let (plotStatus, _, plotErr) = try runLoft([
            "plot", "--config", experiment.path, "--runs-dir", runs, "--out", svg,
        ])
        XCTAssertEqual(plotStatus, 0, plotErr)
        XCTAssertTrue(try String(contentsOfFile: svg, encoding: .utf8).contains("<polyline"))

        try "name: e\nbase: base.yaml\nevaluate: {}\ncells: [{name: a, sett: []}]\n".write(
            to: experiment, atomically: true, encoding: .utf8)
        let (bad, _, badErr) = try runLoft(["experiment", "--config", experiment.path, "--runs-dir", runs])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badErr.contains("cell.sett") && badErr.split(separator: "\n").count == 1, badErr)
    }

    /// `loft eval --compute-dtype bf16` scores within 1% of fp32 (bf16 inputs move a perplexity of
    /// stories260K by about 0.2%) where the bf16 kernel runs, and exactly as fp32 where it does not
    /// (no AVX512-BF16, `LOFT_SIMD` below avx512 or `LOFT_BF16=off`: the subprocess inherits them);
    /// the report names the compute type the products got. The path matrix runs both cases.
    func testEvalInBF16IsCloseToFP32() throws {
        func perplexity(_ compute: String) throws -> (Double, String) {
            let (status, out, err) = try runLoft([
                "eval", "--perplexity", "--model", try Fixtures.data("models/stories260K/stories260K.bin"),
                "--tokenizer", try Fixtures.data("models/stories260K/tok512.model"),
                "--data", try Fixtures.data("wikitext-2-raw/wiki.valid.raw"), "--seq-len", "128",
                "--compute-dtype", compute, "--json",
            ])
            XCTAssertEqual(status, 0, err)
            let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
            let effective = try XCTUnwrap(object?["effective_compute_dtype"] as? String)
            return (try XCTUnwrap((object?["result"] as? [String: Any])?["perplexity"] as? Double), effective)
        }
        let (fp32, bf16) = (try perplexity("fp32"), try perplexity("bf16"))
        print("eval bf16 vs fp32 (\(KernelPath.description)): \(bf16.0) vs \(fp32.0)")
        XCTAssertEqual(fp32.1, "fp32")
        if BLAS.bf16KernelAvailable {  // as in the `loft` subprocesses, which inherit this environment
            XCTAssertEqual(bf16.1, "bf16")
            XCTAssertNotEqual(bf16.0, fp32.0, "bf16 products must change the numbers")
            XCTAssertEqual(bf16.0, fp32.0, accuracy: 0.01 * fp32.0)
        } else {
            XCTAssertEqual(bf16.1, "fp32", "no bf16 kernel: the products run in fp32")
            XCTAssertEqual(bf16.0, fp32.0, "no bf16 kernel: the same perplexity bit for bit")
        }
    }
}
