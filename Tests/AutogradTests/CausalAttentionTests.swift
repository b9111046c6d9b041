import Autograd
import Foundation
import XCTest
import _TestSupport

final class CausalAttentionTests: LoftTestCase {
    func testForwardHandComputed() {
        // T = 2, one head, Dh = 1 (scale 1): row 0 sees only key 0; row 1 weighs v by softmax(0, 2).
        let q = Tensor([1, 2], shape: [1, 2, 1, 1])
        let k = Tensor([0, 1], shape: [1, 2, 1, 1])
        let v = Tensor([3, 5], shape: [1, 2, 1, 1])
        let p1 = exp(2.0) / (1 + exp(2.0))
        assertClose(q.causalAttention(key: k, value: v).data, [3, Float(3 * (1 - p1) + 5 * p1)], atol: 1e-6)
    }

    func testForwardMatchesNaiveGroupedQueryReference() {
        let (b, t, h, hkv, dh) = (2, 5, 4, 2, 3)
        let q = randomTensor([b, t, h, dh], seed: 1, requiresGrad: false)
        let k = randomTensor([b, t, hkv, dh], seed: 2, requiresGrad: false)
        let v = randomTensor([b, t, hkv, dh], seed: 3, requiresGrad: false)
        let y = q.causalAttention(key: k, value: v)
        XCTAssertNil(y.grad)
        XCTAssertTrue(y.isLeaf, "constant inputs record no graph")
        var expected = [Float](repeating: 0, count: b * t * h * dh)
        for bi in 0..<b {
            for hi in 0..<h {
                let g = hi / (h / hkv)
                for i in 0..<t {
                    var scores = [Double]()
                    for j in 0...i {
                        var s = 0.0
                        for e in 0..<dh {
                            s +=
                                Double(q.data[((bi * t + i) * h + hi) * dh + e])
                                * Double(k.data[((bi * t + j) * hkv + g) * dh + e])
                        }
                        scores.append(s / Double(dh).squareRoot())
                    }
                    let peak = scores.max()!
                    let weights = scores.map { exp($0 - peak) }
                    let total = weights.reduce(0, +)
                    for e in 0..<dh {
                        var acc = 0.0
                        for j in 0...i { acc += weights[j] / total * Double(v.data[((bi * t + j) * hkv + g) * dh + e]) }
                        expected[((bi * t + i) * h + hi) * dh + e] = Float(acc)
                    }
                }
            }
        }
        assertClose(y.data, expected, atol: 1e-5)
    }

    func testGradientsGroupedQuery() {
        gradCheck([
            randomTensor([2, 4, 4, 3], seed: 4), randomTensor([2, 4, 2, 3], seed: 5),
            randomTensor([2, 4, 2, 3], seed: 6),
        ]) {
            $0[0].causalAttention(key: $0[1], value: $0[2])
        }
    }

    func testGradientsMultiHeadAndSingleKVHead() {
        gradCheck([
            randomTensor([1, 3, 2, 2], seed: 7), randomTensor([1, 3, 2, 2], seed: 8),
            randomTensor([1, 3, 2, 2], seed: 9),
        ]) {
            $0[0].causalAttention(key: $0[1], value: $0[2])
        }
        gradCheck([
            randomTensor([1, 3, 3, 2], seed: 10), randomTensor([1, 3, 1, 2], seed: 11),
            randomTensor([1, 3, 1, 2], seed: 12),
        ]) {
            $0[0].causalAttention(key: $0[1], value: $0[2])
        }
    }
}

/// The output of `f(inputs)` and the gradients of `inputs` after backward from `seed`.
private func gradients(_ inputs: [Tensor], _ seed: [Float], _ f: ([Tensor]) -> Tensor) -> ([Float], [[Float]]) {
    for x in inputs { x.zeroGrad() }
    let y = f(inputs)
    y.backward(seed: seed)
    return (y.data, inputs.map { $0.grad! })
}

final class CausalAttentionCompositionTests: LoftTestCase {
    /// The fused op (large enough to run its threaded path) against the same attention composed
    /// from matmul, an additive mask, softmax and permutes: values and all three gradients.
    func testFusedEqualsComposedOpsOnThreadedShapes() {
        let (b, t, h, dh) = (2, 48, 4, 16)
        let inputs = [
            randomTensor([b, t, h, dh], seed: 21), randomTensor([b, t, h, dh], seed: 22),
            randomTensor([b, t, h, dh], seed: 23),
        ]
        var mask = [Float](repeating: 0, count: t * t)
        for i in 0..<t { for j in (i + 1)..<t { mask[i * t + j] = -1e9 } }
        let maskTensor = Tensor(mask, shape: [t, t])
        let seed = randomTensor([b, t, h, dh], seed: 24, requiresGrad: false).data

        let fused = gradients(inputs, seed) { $0[0].causalAttention(key: $0[1], value: $0[2]) }
        let composed = gradients(inputs, seed) { x in
            let (q, k, v) = (x[0].permuted([0, 2, 1, 3]), x[1].permuted([0, 2, 1, 3]), x[2].permuted([0, 2, 1, 3]))
            let scores = q.matmul(k, transposeOther: true).scaled(by: 1 / Float(dh).squareRoot())
            let probabilities = (scores + maskTensor).softmax()
            return probabilities.matmul(v).permuted([0, 2, 1, 3])
        }
        assertClose(fused.0, composed.0, atol: 1e-5, "output")
        for i in 0..<3 { assertClose(fused.1[i], composed.1[i], atol: 1e-4, "gradient \(i)") }
    }

    /// RoPE inside the op (rotated q, k as per-head scratch, gradients rotated back) equals
    /// `rope` then the op, in values and all three gradients, with grouped-query heads on the
    /// threaded path; without a table the op is unchanged.
    func testRotaryInsideEqualsRopeThenAttention() {
        let (b, t, h, hkv, dh) = (2, 40, 4, 2, 16)
        let inputs = [
            randomTensor([b, t, h, dh], seed: 31), randomTensor([b, t, hkv, dh], seed: 32),
            randomTensor([b, t, hkv, dh], seed: 33),
        ]
        let table = RotaryTable(headDim: dh, positions: t, offset: 0, theta: 10_000)
        let seed = randomTensor([b, t, h, dh], seed: 34, requiresGrad: false).data
        let fused = gradients(inputs, seed) { $0[0].causalAttention(key: $0[1], value: $0[2], rotary: table) }
        let composed = gradients(inputs, seed) {
            $0[0].rope(table).causalAttention(key: $0[1].rope(table), value: $0[2])
        }
        assertClose(fused.0, composed.0, atol: 1e-6, "output")
        for i in 0..<3 { assertClose(fused.1[i], composed.1[i], atol: 1e-5, "gradient \(i)") }
        let unrotated = gradients(inputs, seed) { $0[0].causalAttention(key: $0[1], value: $0[2]) }
        XCTAssertGreaterThan(zip(unrotated.0, fused.0).map { abs($0 - $1) }.max()!, 1e-3, "the table is applied")
    }
}

/// Packed rows: sequences side by side in one row attend only within themselves, from position 0.
final class PackedAttentionTests: LoftTestCase {
    /// Rows [t0, t1) of a [1, T, heads, Dh] tensor's values.
    func rows(_ values: [Float], _ range: Range<Int>, width: Int) -> [Float] {
        Array(values[(range.lowerBound * width)..<(range.upperBound * width)])
    }

    func testPackedRowEqualsEachSequenceAloneForwardAndBackward() {
        let (t, h, hkv, dh) = (9, 4, 2, 4)
        let lengths = [4, 3, 2]
        let q = randomTensor([1, t, h, dh], seed: 11), k = randomTensor([1, t, hkv, dh], seed: 12)
        let v = randomTensor([1, t, hkv, dh], seed: 13), seed = randomTensor([1, t, h, dh], seed: 14)
        let table = RotaryTable(headDim: dh, positions: t, offset: 0, theta: 10000)
        let packed = q.causalAttention(key: k, value: v, rotary: table, segments: [lengths])
        packed.backward(seed: seed.data)
        var start = 0
        for n in lengths {
            let range = start..<(start + n)
            let qs = Tensor(rows(q.data, range, width: h * dh), shape: [1, n, h, dh], requiresGrad: true)
            let ks = Tensor(rows(k.data, range, width: hkv * dh), shape: [1, n, hkv, dh], requiresGrad: true)
            let vs = Tensor(rows(v.data, range, width: hkv * dh), shape: [1, n, hkv, dh], requiresGrad: true)
            let alone = qs.causalAttention(
                key: ks, value: vs, rotary: RotaryTable(headDim: dh, positions: n, offset: 0, theta: 10000))
            assertClose(rows(packed.data, range, width: h * dh), alone.data, atol: 1e-6)
            alone.backward(seed: rows(seed.data, range, width: h * dh))
            assertClose(rows(q.grad!, range, width: h * dh), qs.grad!, atol: 1e-6)
            assertClose(rows(k.grad!, range, width: hkv * dh), ks.grad!, atol: 1e-6)
            assertClose(rows(v.grad!, range, width: hkv * dh), vs.grad!, atol: 1e-6)
            start += n
        }
    }

    func testPackedGradientsMatchFiniteDifferences() {
        let table = RotaryTable(headDim: 4, positions: 6, offset: 0, theta: 10000)
        gradCheck([
            randomTensor([2, 6, 2, 4], seed: 21), randomTensor([2, 6, 1, 4], seed: 22),
            randomTensor([2, 6, 1, 4], seed: 23),
        ]) {
            $0[0].causalAttention(key: $0[1], value: $0[2], rotary: table, segments: [[2, 4], [1, 3, 2]])
        }
    }
}
