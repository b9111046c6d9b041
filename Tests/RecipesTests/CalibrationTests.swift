import Autograd
import Foundation
import Llama
import LoRA
import Quantization
import Recipes
import XCTest
import _TestSupport

/// Calibration statistics and `loft quantize --init loftq_aware` on stories260K.
final class CalibrationTests: XCTestCase {
    private var model: String { get throws { try Fixtures.data("models/stories260K/stories260K.bin") } }
    private var tokenizer: String { get throws { try Fixtures.data("models/stories260K/tok512.model") } }

    /// Σ of layer 0's attention input equals E[h·hᵀ] computed by hand (h = RMSNorm of the
    /// embedding rows), and every collected moment is symmetric with a positive diagonal.
    func testMomentsAreTheInputsSecondMoments() throws {
        let loaded = try ModelLoader.load(model: try model, tokenizer: try tokenizer)
        let llama = loaded.model
        let rows: [[Int32]] = [[1, 403, 407, 261, 378, 285], [1, 345, 288, 300]]
        let statistics = CalibrationStatistics.collect(
            model: llama, sequences: rows, modules: Set(LinearModule.allCases))
        XCTAssertEqual(statistics.tokens, 10)
        XCTAssertEqual(statistics.moments.count, llama.config.layers * 4)
        let d = llama.config.dim
        let embedding = llama.embedding.data, norm = llama.blocks[0].attentionNorm.data
        var expected = [Double](repeating: 0, count: d * d)
        for token in rows.joined() {
            let e = embedding[(Int(token) * d)..<((Int(token) + 1) * d)].map(Double.init)
            let scale = 1 / (e.map { $0 * $0 }.reduce(0, +) / Double(d) + Double(llama.config.normEps)).squareRoot()
            let h = (0..<d).map { e[$0] * scale * Double(norm[$0]) }
            for i in 0..<d { for j in 0..<d { expected[i * d + j] += h[i] * h[j] / 10 } }
        }
        let got = try XCTUnwrap(statistics.moments[CalibrationStatistics.key(layer: 0, site: .attentionInput)])
        XCTAssertEqual(got.width, d)
        let largest = expected.map(abs).max()!
        for i in 0..<(d * d) { XCTAssertEqual(got.values[i], expected[i], accuracy: 1e-4 * largest) }
        for (key, moment) in statistics.moments {
            let n = moment.width
            for i in 0..<n {
                XCTAssertGreaterThan(moment.values[i * n + i], 0, key)
                for j in 0..<i {
                    XCTAssertEqual(
                        moment.values[i * n + j], moment.values[j * n + i],
                        accuracy: 1e-5 * moment.values[i * n + i] + 1e-9, key)
                }
            }
        }
    }

    /// loftq_aware lowers the activation-weighted start error below LoftQ's at 2 bits (on the same
    /// calibration), writes its moments beside the model, and cannot run without data.
    func testQuantizeLoftQAware() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let text = folder.appendingPathComponent("calibration.txt")
        let story = String(
            repeating: "Once upon a time, there was a little girl named Lily. She loved to play in the park. ",
            count: 40)
        try story.write(to: text, atomically: true, encoding: .utf8)
        func quantize(_ initialization: LoRAInitialization, calibrated: Bool = true) throws -> LoftQuantizer.Report {
            var options = LoftQuantizer.Options(
                spec: QuantizationSpec(method: .nf, bits: 2, blockSize: 64, doubleQuant: false), rank: 8, alpha: 16,
                iterations: 2, initialization: initialization)
            if calibrated { options.calibration = CalibrationOptions(data: text.path, sequences: 8, length: 64) }
            return try LoftQuantizer.quantize(
                model: try model, tokenizer: try tokenizer, options: options,
                output: folder.appendingPathComponent(initialization.rawValue + (calibrated ? "" : "-plain")))
        }
        let loftq = try quantize(.loftq), aware = try quantize(.loftqAware)
        let plain = try XCTUnwrap(loftq.averageActivationPlainError)
        XCTAssertEqual(try XCTUnwrap(aware.averageActivationPlainError), plain, accuracy: 1e-12)
        let loftqError = try XCTUnwrap(loftq.averageActivationInitError)
        let awareError = try XCTUnwrap(aware.averageActivationInitError)
        XCTAssertLessThan(loftqError, plain)
        XCTAssertLessThan(awareError, loftqError * 0.95, "activation-aware \(awareError) vs LoftQ \(loftqError)")
        for matrix in aware.matrices {
            let loftqMatrix = try XCTUnwrap(loftq.matrices.first { $0.name == matrix.name })
            XCTAssertLessThanOrEqual(
                try XCTUnwrap(matrix.activationInitError), try XCTUnwrap(loftqMatrix.activationInitError) * 1.0001,
                matrix.name)
        }
        XCTAssertEqual(aware.calibration?.sequences, 8)
        let stored = try CalibrationStatistics.read(
            from: folder.appendingPathComponent("loftq_aware/calibration.safetensors"))
        XCTAssertEqual(stored.sequences, 8)
        XCTAssertEqual(stored.moments[CalibrationStatistics.key(layer: 0, site: .mlpHidden)]?.width, 172)
        XCTAssertThrowsError(try quantize(.loftqAware, calibrated: false)) { error in
            XCTAssertTrue("\(error)".contains("--calibration-data"), "\(error)")
        }
    }
}

/// `lora.init: loftq_aware` in a run config: calibrated on the training data by default, its
/// section checked by key.
final class CalibrationConfigTests: XCTestCase {
    func testRunConfigBuildsAnActivationAwareStart() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let text = folder.appendingPathComponent("train.txt")
        try String(repeating: "Lily and Tom went to the park to play with a red ball. ", count: 40)
            .write(to: text, atomically: true, encoding: .utf8)
        let model = try Fixtures.data("models/stories260K/stories260K.bin")
        let tokenizer = try Fixtures.data("models/stories260K/tok512.model")
        let yaml = """
            model: {path: \(model), tokenizer: \(tokenizer)}
            quantization: {bits: 2}
            lora: {rank: 4, alpha: 8, init: loftq_aware, loftq_iters: 2, calibration: {samples: 4, seq_len: 64}}
            data: {dataset: text, train_path: \(text.path), max_seq_len: 64}
            """
        let config = try ConfigLoader.parse(yaml, file: "aware.yaml")
        XCTAssertEqual(config.lora.calibration?.samples, 4)
        let built = try ModelBuilder.build(config, file: "aware.yaml")
        XCTAssertNotNil(built.initError)
        XCTAssertFalse(built.model.blocks[0].loraLayers.isEmpty)
        // the calibration section is for loftq_aware only, and its keys are checked
        XCTAssertThrowsError(
            try ConfigLoader.parse(
                yaml.replacingOccurrences(of: "init: loftq_aware", with: "init: loftq"), file: "a.yaml")
        ) { XCTAssertTrue("\($0)".contains("lora.calibration"), "\($0)") }
        XCTAssertThrowsError(
            try ConfigLoader.parse(yaml.replacingOccurrences(of: "samples: 4", with: "sample: 4"), file: "a.yaml")
        ) { XCTAssertTrue("\($0)".contains("sample"), "\($0)") }
        XCTAssertThrowsError(
            try ConfigLoader.parse(yaml.replacingOccurrences(of: "seq_len: 64", with: "seq_len: 1"), file: "a.yaml")
        ) { XCTAssertTrue("\($0)".contains("lora.calibration.seq_len"), "\($0)") }
    }
}
