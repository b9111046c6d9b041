import Autograd
import Quantization
import Support
import XCTest
import _TestSupport

final class QuantizedTensorTests: LoftTestCase {
    /// Per element: |x − deq(q(x))| ≤ half the largest gap × the block's absmax (nearest level).
    func testRoundTripErrorBound() {
        var rng = RandomState(seed: 1)
        for codebook in [Codebook.nf4, .nf2, .uniform(bits: 2), .uniform(bits: 4), .uniform(bits: 8)] {
            for blockSize in [64, 100] {
                let shape = [37, 50]  // blocks span rows; the last block is short
                let x = rng.normal(count: shape.product, std: 0.02)
                let q = QuantizedTensor(x, shape: shape, codebook: codebook, blockSize: blockSize)
                let y = q.dequantized()
                for block in 0..<((x.count + blockSize - 1) / blockSize) {
                    let range = (block * blockSize)..<min(x.count, (block + 1) * blockSize)
                    let absmax = range.map { abs(x[$0]) }.max()!
                    let bound = codebook.largestGap / 2 * absmax * (1 + 1e-5)
                    for i in range { XCTAssertLessThanOrEqual(abs(x[i] - y[i]), bound, "\(codebook.name) \(i)") }
                }
            }
        }
    }

    func testBitsPerWeightWithAndWithoutDoubleQuant() {
        let x = RandomStateValues.normal(count: 4096 * 64, seed: 2)
        let plain = QuantizedTensor(x, shape: [4096, 64], codebook: .nf4)
        XCTAssertEqual(plain.bitsPerWeight, 4.5, accuracy: 1e-9)  // 4 + 32/64
        let double = QuantizedTensor(x, shape: [4096, 64], codebook: .nf4, doubleQuant: true)
        // 4 + 8/64 + 32/(64·256) + 32/n
        XCTAssertEqual(double.bitsPerWeight, 4 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / Double(x.count), accuracy: 1e-9)
        XCTAssertEqual(QuantizedTensor(x, shape: [4096, 64], codebook: .nf2).bitsPerWeight, 2.5, accuracy: 1e-9)
    }

    func testDoubleQuantizedScalesStayClose() {
        let x = RandomStateValues.normal(count: 64 * 1000, seed: 3)
        let plain = QuantizedTensor(x, shape: [1000, 64], codebook: .nf4)
        let double = QuantizedTensor(x, shape: [1000, 64], codebook: .nf4, doubleQuant: true)
        guard case .plain(let exact) = plain.scales else { return XCTFail() }
        let approx = double.scales.absmax(blocks: 0..<exact.count)
        let worst = zip(exact, approx).map { abs($0 - $1) / $0 }.max()!
        XCTAssertLessThan(worst, 0.02, "dynamic 8-bit scales are within 2% of the fp32 absmax")
        XCTAssertEqual(plain.codes, double.codes, "the codes do not depend on how scales are stored")
    }

    /// PEFT's NFQuantizer on the golden matrices: codes and absmax bit-exact, error to 1e-6.
    func testPlainQuantizationMatchesPEFT() throws {
        let report = try Fixtures.json(Fixtures.golden("loftq/loftq.json"))
        for matrix in try XCTUnwrap(report["matrices"] as? [[String: Any]]) {
            let name = try XCTUnwrap(matrix["name"] as? String)
            let golden = try GoldenTensors(path: Fixtures.golden("loftq/\(name).safetensors"))
            let w = golden["W"]
            let shape = try XCTUnwrap(matrix["shape"] as? [Int])
            let plain = try XCTUnwrap(matrix["plain"] as? [String: [String: Any]])
            for (bits, codebook) in [(4, Codebook.nf4), (2, Codebook.nf2)] {
                let q = QuantizedTensor(w, shape: shape, codebook: codebook)
                XCTAssertEqual(
                    q.codes.unpacked.map(Float.init), golden["plain_b\(bits).codes"], "\(name) b\(bits) codes")
                guard case .plain(let absmax) = q.scales else { return XCTFail() }
                XCTAssertEqual(absmax.map(\.bitPattern), golden["plain_b\(bits).absmax"].map(\.bitPattern))
                let deq = q.dequantized()
                var diff = 0.0, norm = 0.0
                for i in 0..<w.count { diff += pow(Double(w[i] - deq[i]), 2); norm += pow(Double(w[i]), 2) }
                let expected = try XCTUnwrap(plain["b\(bits)"]?["rel_err_quant"] as? Double)
                XCTAssertEqual((diff / norm).squareRoot(), expected, accuracy: 1e-6 * expected)
                // T = 1 settings: PEFT's returned Q is the plain quantization, bit for bit.
                for key in ["b\(bits)_r8_t1"] {
                    XCTAssertEqual(deq.map(\.bitPattern), golden["\(key).Q"].map(\.bitPattern))
                }
            }
        }
    }
}

/// Seeded normal samples for tests.
enum RandomStateValues {
    static func normal(count: Int, seed: UInt64, std: Float = 0.02) -> [Float] {
        var rng = RandomState(seed: seed)
        return rng.normal(count: count, std: std)
    }
}

final class DequantizeKernelTests: LoftTestCase {
    /// Every SIMD path this CPU has (aligned ranges) and the scalar path (any range) equal
    /// `levels[code] · absmax` element by element — bit for bit, as each output is one product —
    /// at 4, 2 and 8 bits, blocks of 16, 32, 64 and 128, with and without double quant.
    func testEveryPathEqualsElementwiseDefinition() {
        var rng = RandomState(seed: 21)
        let paths = SIMDPath.supported
        KernelPath.announceComparedPaths("dequantization")
        XCTAssertEqual(paths.first, .scalar)
        for codebook in [Codebook.nf4, .nf2, .uniform(bits: 4), .uniform(bits: 2), .uniform(bits: 8)] {
            for doubleQuant in [false, true] {
                for blockSize in [64, 16, 32, 128] {
                    let shape = [48, 100]
                    let q = QuantizedTensor(
                        rng.normal(count: shape.product), shape: shape, codebook: codebook, blockSize: blockSize,
                        doubleQuant: doubleQuant)
                    let absmax = q.scales.absmax(blocks: 0..<q.scales.count)
                    let expected = (0..<q.count).map { codebook.levels[Int(q.codes[$0])] * absmax[$0 / q.blockSize] }
                    XCTAssertEqual(q.dequantized(), expected, "\(codebook.name) dq \(doubleQuant) whole")
                    for path in paths {
                        for range in [0..<64, 128..<640, 3..<77, 1000..<1017, 4736..<4800, 0..<4800] {
                            var out = [Float](repeating: .nan, count: range.count)
                            XCTAssertTrue(
                                out.withUnsafeMutableBufferPointer {
                                    q.dequantize(range, into: $0.baseAddress!, path: path)
                                })
                            XCTAssertEqual(
                                out, Array(expected[range]),
                                "\(path) \(codebook.name) block \(blockSize) dq \(doubleQuant) \(range)")
                        }
                    }
                }
            }
        }
    }

    /// The active path is the best this CPU has unless LOFT_SIMD caps it; a path the CPU lacks
    /// writes nothing and says so.
    func testActivePathAndUnsupportedPaths() {
        let environment = ProcessInfo.processInfo.environment["LOFT_SIMD"]
        if environment == nil { XCTAssertEqual(SIMDPath.active, SIMDPath.supported.last) }
        XCTAssertTrue(SIMDPath.supported.contains(SIMDPath.active))
        let features = CPUFeatures.current
        XCTAssertEqual(SIMDPath.avx2.isSupported, features.avx2 && features.fma)
        XCTAssertEqual(SIMDPath.avx512.isSupported, features.avx512f && features.avx512bw && features.avx512vl)
        let q = QuantizedTensor([Float](repeating: 0.5, count: 64), shape: [64], codebook: .nf4)
        for path in SIMDPath.allCases where !path.isSupported {
            var out = [Float](repeating: .nan, count: 64)
            XCTAssertFalse(
                out.withUnsafeMutableBufferPointer { q.dequantize(0..<64, into: $0.baseAddress!, path: path) })
            XCTAssertTrue(out.allSatisfy(\.isNaN))
        }
    }
}
