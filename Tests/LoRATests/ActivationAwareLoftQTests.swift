import Autograd
import LoRA
import Quantization
import XCTest
import _TestSupport

/// The activation-aware low-rank step: S = Σ^{1/2} is right, the closed form is the minimiser of
/// the weighted error (against gradient descent from random starts), Σ = I gives LoftQ exactly,
/// and the weighted error never exceeds LoftQ's.
final class ActivationAwareLoftQTests: LoftTestCase {
    /// A second moment E[xxᵀ] [n, n] of inputs with an anisotropic spectrum and correlations
    /// (what a layer's inputs look like: a few directions carry most of the energy).
    private func moment(n: Int, samples: Int = 400, seed: UInt64) -> [Double] {
        var rng = RandomState(seed: seed)
        let mixing = rng.normal(count: n * n, std: 0.3)
        var sigma = [Double](repeating: 0, count: n * n)
        for _ in 0..<samples {
            let z = rng.normal(count: n)
            var x = [Double](repeating: 0, count: n)
            for i in 0..<n {
                x[i] = Double(z[i]) * pow(0.7, Double(i)) * 4
                for j in 0..<n { x[i] += Double(mixing[i * n + j] * z[j]) * 0.2 }
            }
            for i in 0..<n { for j in 0..<n { sigma[i * n + j] += x[i] * x[j] / Double(samples) } }
        }
        return sigma
    }

    private func product(_ a: [Double], _ b: [Double], _ m: Int, _ k: Int, _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for p in 0..<k { for j in 0..<n { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        return c
    }

    func testWeightingIsTheSquareRootOfTheMoment() throws {
        let n = 7
        let sigma = moment(n: n, seed: 1)
        let weighting = try ActivationWeighting(moment: sigma, width: n, form: .exact, damping: 0)
        let s = weighting.scale.map(Double.init), inverse = weighting.inverse.map(Double.init)
        let squared = product(s, s, n, n, n), identity = product(s, inverse, n, n, n)
        let scaleOfSigma = sigma.map(abs).max()!
        for i in 0..<n {
            for j in 0..<n {
                XCTAssertEqual(squared[i * n + j], sigma[i * n + j], accuracy: 1e-4 * scaleOfSigma)
                XCTAssertEqual(identity[i * n + j], i == j ? 1 : 0, accuracy: 1e-3)
                XCTAssertEqual(s[i * n + j], s[j * n + i], accuracy: 1e-6 * scaleOfSigma, "S is symmetric")
            }
        }
    }

    /// One step (T = 1: Q = q(W)): s·B·A minimises ‖(R − L)·S‖ over rank-R matrices L, R = W − deq(Q).
    /// Plain gradient descent on (B, A) from five random starts finds nothing lower.
    func testClosedFormIsTheWeightedMinimiser() throws {
        let (m, n, r) = (6, 5, 2)
        var rng = RandomState(seed: 3)
        let w = rng.normal(count: m * n)
        let sigma = moment(n: n, seed: 4)
        let weighting = try ActivationWeighting(moment: sigma, width: n, form: .exact, damping: 0)
        let options = LoftQ.Options(codebook: .nf2, blockSize: 5, rank: r, alpha: 4, iterations: 1, svd: .exact)
        let result = try LoftQ.initialize(weight: w, shape: [m, n], options: options, weighting: weighting, rng: &rng)
        let deq = result.quantized.dequantized()
        let residual = (0..<(m * n)).map { Double(w[$0] - deq[$0]) }
        let s = weighting.scale.map(Double.init)
        func objective(_ low: [Double]) -> Double {
            let difference = (0..<(m * n)).map { residual[$0] - low[$0] }
            return product(difference, s, m, n, n).reduce(0) { $0 + $1 * $1 }
        }
        let closed = objective(
            product(result.b.map { Double($0) * Double(options.scaling) }, result.a.map(Double.init), m, r, n))
        var best = Double.infinity
        for start in 0..<5 {
            var local = RandomState(seed: 100 + UInt64(start))
            var b = local.normal(count: m * r, std: 0.1).map(Double.init)
            var a = local.normal(count: r * n, std: 0.1).map(Double.init)
            let sSquared = product(s, s, n, n, n)
            for _ in 0..<30000 {
                let low = product(b, a, m, r, n)
                let e = (0..<(m * n)).map { residual[$0] - low[$0] }
                let eSS = product(e, sSquared, m, n, n)  // (R − BA)·S·Sᵀ
                var gradB = [Double](repeating: 0, count: m * r), gradA = [Double](repeating: 0, count: r * n)
                for i in 0..<m {
                    for k in 0..<r { for j in 0..<n { gradB[i * r + k] -= 2 * eSS[i * n + j] * a[k * n + j] } }
                }
                for k in 0..<r {
                    for j in 0..<n { for i in 0..<m { gradA[k * n + j] -= 2 * b[i * r + k] * eSS[i * n + j] } }
                }
                let step = 0.2 / (sSquared.map(abs).max()! * 4)
                for i in b.indices { b[i] -= step * gradB[i] }
                for i in a.indices { a[i] -= step * gradA[i] }
            }
            best = min(best, objective(product(b, a, m, r, n)))
        }
        XCTAssertLessThanOrEqual(closed, best * (1 + 1e-4) + 1e-9, "gradient descent found a lower weighted error")
        XCTAssertGreaterThanOrEqual(closed, best * (1 - 1e-2), "gradient descent did not converge: the test is weak")
    }

    /// Σ = I: the same factors, codes and errors as LoftQ, bit for bit.
    func testIdentityWeightingIsLoftQ() throws {
        let (m, n) = (24, 40)
        var rng = RandomState(seed: 5)
        let w = rng.normal(count: m * n)
        let options = LoftQ.Options(codebook: .nf4, blockSize: 8, rank: 4, alpha: 8, iterations: 3, svd: .exact)
        var first = RandomState(seed: 9), second = RandomState(seed: 9)
        let plain = try LoftQ.initialize(weight: w, shape: [m, n], options: options, rng: &first)
        for form in [ActivationWeighting.Form.exact, .diagonal] {
            let weighted = try LoftQ.initialize(
                weight: w, shape: [m, n], options: options, weighting: .identity(width: n, form: form), rng: &second)
            XCTAssertEqual(weighted.a, plain.a)
            XCTAssertEqual(weighted.b, plain.b)
            XCTAssertEqual(weighted.errors, plain.errors)
            XCTAssertEqual(weighted.activationErrors, plain.errors)
            XCTAssertEqual(weighted.quantized.dequantized(), plain.quantized.dequantized())
        }
    }

    /// On a layer with a known anisotropic Σ, the weighted start error of the activation-aware
    /// start is at most LoftQ's (measured the same way), at 2 and 4 bits, exact and diagonal.
    func testWeightedErrorIsAtMostLoftQs() throws {
        let (m, n) = (32, 48)
        var rng = RandomState(seed: 6)
        let w = rng.normal(count: m * n, std: 0.05)
        let sigma = moment(n: n, seed: 7)
        for codebook in [Codebook.nf2, .nf4] {
            for iterations in [1, 5] {
                let options = LoftQ.Options(
                    codebook: codebook, blockSize: 16, rank: 4, alpha: 8, iterations: iterations, svd: .exact)
                var seed = RandomState(seed: 1)
                let plain = try LoftQ.initialize(weight: w, shape: [m, n], options: options, rng: &seed)
                for form in [ActivationWeighting.Form.exact, .diagonal] {
                    let weighting = try ActivationWeighting(moment: sigma, width: n, form: form)
                    let exact = try ActivationWeighting(moment: sigma, width: n, form: .exact)
                    let aware = try LoftQ.initialize(
                        weight: w, shape: [m, n], options: options, weighting: weighting, rng: &seed)
                    func weightedError(_ result: LoftQ.Result) -> Double {
                        let deq = result.quantized.dequantized()
                        let low = Linalg.product(result.b, result.a, m: m, k: 4, n: n)
                        let difference = (0..<(m * n)).map { w[$0] - deq[$0] - options.scaling * low[$0] }
                        return LoftQ.frobeniusNorm(exact.scaled(difference, rows: m))
                    }
                    let label = "\(codebook == .nf2 ? 2 : 4) bits, T \(iterations), \(form)"
                    if form == .exact {
                        XCTAssertLessThanOrEqual(weightedError(aware), weightedError(plain) * (1 + 1e-5), label)
                    }
                    // the diagonal form optimises a proxy: it must at least beat plain quantization
                    let quantized = QuantizedTensor(w, shape: [m, n], codebook: codebook, blockSize: 16).dequantized()
                    let plainQuantization = exact.scaled((0..<(m * n)).map { w[$0] - quantized[$0] }, rows: m)
                    XCTAssertLessThan(weightedError(aware), LoftQ.frobeniusNorm(plainQuantization), label)
                }
            }
        }
    }
}
