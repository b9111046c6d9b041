import Autograd
import Quantization
import Support
import XCTest
import _TestSupport

final class QuantizedMatMulTests: LoftTestCase {
    /// Output and input gradient equal a plain linear on the dequantized weight (1e-5 relative):
    /// 18 rows of x (past the packed-code kernel, so both directions go through dequantized
    /// tiles), a weight of 4.3M floats (two tiles: 2048 rows, then 52), one of a single tile whose
    /// rows are not whole blocks, and a small one.
    func testEqualsPlainLinearOnDequantizedWeight() {
        for (out, inF) in [(2100, 2048), (300, 700), (64, 64)] {
            let w = RandomStateValues.normal(count: out * inF, seed: 5)
            let q = QuantizedTensor(w, shape: [out, inF], codebook: .nf4)
            let dense = Tensor(q.dequantized(), shape: [out, inF])
            let x1 = randomTensor([2, 9, inF], seed: 6)
            let x2 = Tensor(x1.data, shape: x1.shape, requiresGrad: true)
            let seed = randomTensor([2, 9, out], seed: 7, requiresGrad: false).data
            let yq = x1.matmul(quantized: q)
            let yd = x2.matmul(dense, transposeOther: true)
            XCTAssertEqual(yq.shape, [2, 9, out])
            let scale = yd.data.map(abs).max()!
            assertClose(yq.data, yd.data, atol: 1e-5 * scale)
            yq.backward(seed: seed)
            yd.backward(seed: seed)
            let gscale = x2.grad!.map(abs).max()!
            assertClose(x1.grad!, x2.grad!, atol: 1e-5 * gscale)
        }
    }

    func testGradientCheck() {
        let q = QuantizedTensor(
            RandomStateValues.normal(count: 6 * 5, seed: 8, std: 1), shape: [6, 5], codebook: .nf4, blockSize: 8)
        gradCheck([randomTensor([3, 5], seed: 9)]) { $0[0].matmul(quantized: q) }
    }
}

final class QuantizedDirectKernelTests: LoftTestCase {
    /// The packed-code kernel on every SIMD path this CPU has equals x·deq(W)ᵀ computed in Double,
    /// for 1, 5 and 16 rows of x, 4- and 2-bit codebooks, blocks of 16, 32, 48 and 64, ± double quant.
    /// Tolerance: a Float dot product of `in` terms in another order, 1e-5 × Σ|x·w| per output.
    func testEveryPathEqualsTheDequantizedProduct() {
        let paths = SIMDPath.supported
        KernelPath.announceComparedPaths("packed-code matrix–vector product")
        let (out, inF) = (37, 192)
        for codebook in [Codebook.nf4, .nf2, .uniform(bits: 4), .uniform(bits: 2)] {
            for (blockSize, doubleQuant) in [(64, false), (32, true), (64, true), (16, false), (48, false)] {
                let q = QuantizedTensor(
                    RandomStateValues.normal(count: out * inF, seed: 11), shape: [out, inF], codebook: codebook,
                    blockSize: blockSize, doubleQuant: doubleQuant)
                let w = q.dequantized()
                for m in [1, 5, 16] {
                    XCTAssertTrue(q.usesDirectKernel(rows: m))
                    let x = RandomStateValues.normal(count: m * inF, seed: UInt64(m))
                    var expected = [Float](repeating: 0, count: m * out), bound = [Float](repeating: 0, count: m * out)
                    for b in 0..<m {
                        for o in 0..<out {
                            var (total, magnitude) = (0.0, 0.0)
                            for i in 0..<inF {
                                total += Double(x[b * inF + i]) * Double(w[o * inF + i])
                                magnitude += abs(Double(x[b * inF + i]) * Double(w[o * inF + i]))
                            }
                            (expected[b * out + o], bound[b * out + o]) = (Float(total), Float(1e-5 * magnitude))
                        }
                    }
                    for path in paths {
                        var y = [Float](repeating: .nan, count: m * out)
                        XCTAssertTrue(
                            x.withUnsafeBufferPointer { xs in
                                y.withUnsafeMutableBufferPointer {
                                    q.multiplyDirect(xs.baseAddress!, rows: m, into: $0.baseAddress!, path: path)
                                }
                            })
                        for k in 0..<y.count where !(abs(y[k] - expected[k]) <= bound[k]) {
                            XCTFail(
                                "\(path) \(codebook.name) block \(blockSize) dq \(doubleQuant) m \(m) [\(k)]: \(y[k]) vs \(expected[k])"
                            )
                            break
                        }
                    }
                }
            }
        }
    }

    /// `multiplyRows` over any cut of the output features gives, feature for feature, the bits of
    /// the whole product (each feature is one row of the kernel, whatever range holds it), with
    /// plain and double-quantized scales (expanded per range), and writes nothing outside its range.
    func testRowRangesEqualTheWholeProduct() {
        let (out, inF, m) = (37, 192, 3)
        for doubleQuant in [false, true] {
            let q = QuantizedTensor(
                RandomStateValues.normal(count: out * inF, seed: 15), shape: [out, inF], codebook: .nf4,
                blockSize: 64, doubleQuant: doubleQuant)
            let x = RandomStateValues.normal(count: m * inF, seed: 16)
            var whole = [Float](repeating: .nan, count: m * out), pieces = whole
            x.withUnsafeBufferPointer { xs in
                whole.withUnsafeMutableBufferPointer {
                    _ = q.multiplyDirect(xs.baseAddress!, rows: m, into: $0.baseAddress!)
                }
                pieces.withUnsafeMutableBufferPointer { y in
                    for range in [0..<10, 10..<11, 11..<11, 11..<37] {
                        XCTAssertTrue(q.multiplyRows(xs.baseAddress!, rows: m, outputs: range, into: y.baseAddress!))
                        for b in 0..<m {
                            XCTAssertTrue(y[b * out + 36].isNaN || range.upperBound == 37, "feature 36 written early")
                        }
                    }
                    XCTAssertFalse(
                        q.multiplyRows(xs.baseAddress!, rows: m, outputs: 30..<38, into: y.baseAddress!),
                        "past the last feature")
                }
            }
            XCTAssertEqual(pieces.map(\.bitPattern), whole.map(\.bitPattern), "double quant \(doubleQuant)")
            XCTAssertFalse(whole.contains { $0.isNaN })
        }
    }

    /// Shapes the kernel does not take go through dequantize + sgemm: more than 16 rows, rows of
    /// W that are not whole blocks, 8-bit codes.
    func testShapesOutsideTheKernelAreRefused() {
        let q = QuantizedTensor(RandomStateValues.normal(count: 8 * 100, seed: 12), shape: [8, 100], codebook: .nf4)
        XCTAssertFalse(q.usesDirectKernel(rows: 1), "100 columns are not whole blocks of 64")
        let square = QuantizedTensor(
            RandomStateValues.normal(count: 64 * 64, seed: 13), shape: [64, 64], codebook: .nf4)
        XCTAssertTrue(square.usesDirectKernel(rows: 16))
        XCTAssertFalse(square.usesDirectKernel(rows: 17))
        let eight = QuantizedTensor(
            RandomStateValues.normal(count: 64 * 64, seed: 14), shape: [64, 64], codebook: .uniform(bits: 8))
        XCTAssertFalse(eight.usesDirectKernel(rows: 1))
        var y = [Float](repeating: 0, count: 8)
        XCTAssertFalse(
            [Float](repeating: 1, count: 100).withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { q.multiplyDirect(x.baseAddress!, rows: 1, into: $0.baseAddress!) }
            })
    }
}
