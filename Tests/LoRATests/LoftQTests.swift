import Autograd
import LoRA
import Quantization
import XCTest
import _TestSupport

final class LoftQTests: LoftTestCase {
    func goldenSettings() throws -> [(name: String, shape: [Int], w: [Float], setting: [String: Any])] {
        let report = try Fixtures.json(Fixtures.golden("loftq/loftq.json"))
        var result: [(String, [Int], [Float], [String: Any])] = []
        for matrix in try XCTUnwrap(report["matrices"] as? [[String: Any]]) {
            let name = try XCTUnwrap(matrix["name"] as? String)
            let w = try GoldenTensors(path: Fixtures.golden("loftq/\(name).safetensors"))["W"]
            for setting in try XCTUnwrap(matrix["settings"] as? [[String: Any]]) {
                result.append((name, try XCTUnwrap(matrix["shape"] as? [Int]), w, setting))
            }
        }
        return result
    }

    /// Against PEFT's loftq_init on the golden matrices, with alpha = r (PEFT's scale 1): the plain
    /// error equal to 1e-6, the per-iteration errors within 1e-4 (the README's tolerance for an
    /// SVD as accurate as LAPACK float32), and our final error ≤ PEFT's + 1%.
    func testMatchesPEFTOnGoldenMatrices() throws {
        for (name, shape, w, setting) in try goldenSettings() {
            let (bits, rank, iterations) = (setting["bits"] as! Int, setting["rank"] as! Int, setting["iters"] as! Int)
            var rng = RandomState(seed: 1)
            let options = LoftQ.Options(
                codebook: bits == 4 ? .nf4 : .nf2, rank: rank, alpha: Float(rank),
                iterations: iterations, svd: .exact)
            let result = try LoftQ.initialize(weight: w, shape: shape, options: options, rng: &rng)
            let key = "\(name) \(setting["key"]!)"
            XCTAssertEqual(result.plainError, setting["rel_err_quant"] as! Double, accuracy: 1e-6, key)
            let perIteration = (setting["per_iteration"] as! [[String: Any]]).map { $0["rel_err_loftq"] as! Double }
            XCTAssertEqual(result.errors.count, perIteration.count, "\(key): one error per iteration on both sides")
            for (ours, theirs) in zip(result.errors, perIteration) { XCTAssertEqual(ours, theirs, accuracy: 1e-4, key) }
            XCTAssertLessThanOrEqual(result.error, (setting["rel_err_loftq"] as! Double) * 1.01, key)
        }
    }

    /// LoftQ beats plain quantization, the kept error is the minimum, and with T = 1 the product
    /// B·A matches PEFT's lora_B @ lora_A (relative Frobenius 1e-4; signs of SVD pairs cancel).
    func testPropertiesAndLowRankProduct() throws {
        for (name, shape, w, setting) in try goldenSettings() {
            let (bits, rank, iterations) = (setting["bits"] as! Int, setting["rank"] as! Int, setting["iters"] as! Int)
            for alpha in [Float(rank), 2 * Float(rank)] {
                var rng = RandomState(seed: 2)
                let options = LoftQ.Options(
                    codebook: bits == 4 ? .nf4 : .nf2, rank: rank, alpha: alpha, iterations: iterations)
                let result = try LoftQ.initialize(weight: w, shape: shape, options: options, rng: &rng)
                XCTAssertLessThan(result.error, result.plainError)
                XCTAssertEqual(result.error, result.errors.min())
                guard iterations == 1 else { continue }
                let key = setting["key"] as! String
                let golden = try GoldenTensors(path: Fixtures.golden("loftq/\(name).safetensors"))
                let peft = Linalg.product(
                    golden["\(key).lora_B"], golden["\(key).lora_A"], m: shape[0], k: rank, n: shape[1])
                let ours = Linalg.product(result.b, result.a, m: shape[0], k: rank, n: shape[1]).map {
                    $0 * options.scaling
                }
                XCTAssertEqual(ours.count, peft.count, "\(name) \(key): product sizes")
                let diff = LoftQ.frobeniusNorm(zip(ours, peft).map { $0 - $1 }) / LoftQ.frobeniusNorm(peft)
                XCTAssertLessThanOrEqual(diff, 1e-4, "\(name) \(key) alpha \(alpha)")
            }
        }
    }

    func testRandomizedSVDWithinOnePercentOfExact() throws {
        for (_, shape, w, setting) in try goldenSettings() where setting["iters"] as! Int == 5 {
            let bits = setting["bits"] as! Int
            var results: [Double] = []
            for method in [LoftQ.SVDMethod.exact, .randomized(oversample: 10, powerIterations: 3)] {
                var rng = RandomState(seed: 3)
                let options = LoftQ.Options(
                    codebook: bits == 4 ? .nf4 : .nf2, rank: 16, alpha: 16, iterations: 5, svd: method)
                results.append(try LoftQ.initialize(weight: w, shape: shape, options: options, rng: &rng).error)
            }
            XCTAssertLessThanOrEqual(results[1], results[0] * 1.01, "randomized \(results[1]) vs exact \(results[0])")
        }
    }

    func testTruncatedSVDReconstructsALowRankMatrix() throws {
        var rng = RandomState(seed: 4)
        let (m, n, r) = (40, 30, 3)
        let left = rng.normal(count: m * r), right = rng.normal(count: r * n)
        let matrix = Linalg.product(left, right, m: m, k: r, n: n)
        for svd in [
            try Linalg.svd(matrix, rows: m, columns: n, rank: r),
            try Linalg.randomizedSVD(matrix, rows: m, columns: n, rank: r, rng: &rng),
        ] {
            var us = svd.u
            for i in 0..<m { for j in 0..<r { us[i * r + j] *= svd.s[j] } }
            let rebuilt = Linalg.product(us, svd.vt, m: m, k: r, n: n)
            assertClose(rebuilt, matrix, atol: 1e-4)
            XCTAssertEqual(svd.s, svd.s.sorted(by: >))
        }
    }
}
