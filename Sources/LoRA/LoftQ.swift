import Autograd
import Foundation
import Quantization

/// LoftQ: quantization and low-rank initialisation chosen together so that
/// `deq(Q) + scaling·B·A` approximates the fp32 weight W.
///
/// `A₀ = B₀ = 0`; for t = 1…T: `Q = q(W − s·B·A)`, then the rank-R SVD `W − deq(Q) = U Σ Vᵀ`,
/// `B = U√Σ / √s`, `A = √Σ Vᵀ / √s` with `s = alpha / R` (so the approximation holds for any
/// alpha; PEFT leaves out the 1/√s). The best iterate by relative Frobenius error is kept.
/// reference: Li et al., "LoftQ" (2023), Algorithm 1; peft 0.18.1 utils/loftq_utils.py (loftq_init)
public enum LoftQ {
    /// Which SVD computes the rank-R factor.
    public enum SVDMethod: Equatable, Sendable {
        /// LAPACK `sgesdd` of the whole residual.
        case exact
        /// A randomized range finder (see `Linalg.randomizedSVD`).
        case randomized(oversample: Int, powerIterations: Int)

        /// Exact for matrices up to 1024 on their short side, randomized above.
        public static func automatic(rows: Int, columns: Int) -> SVDMethod {
            min(rows, columns) <= 1024 ? .exact : .randomized(oversample: 10, powerIterations: 3)
        }
    }

    /// How a matrix is quantized and initialised.
    public struct Options: Sendable {
        public var codebook: Codebook, blockSize: Int, doubleQuant: Bool
        public var rank: Int, alpha: Float, iterations: Int
        public var svd: SVDMethod?

        /// Options; `svd` nil chooses `SVDMethod.automatic`.
        public init(
            codebook: Codebook, blockSize: Int = 64, doubleQuant: Bool = false, rank: Int,
            alpha: Float, iterations: Int = 5, svd: SVDMethod? = nil
        ) {
            (self.codebook, self.blockSize, self.doubleQuant) = (codebook, blockSize, doubleQuant)
            self.rank = rank
            self.alpha = alpha
            self.iterations = iterations
            self.svd = svd
        }
        /// alpha / R.
        public var scaling: Float { alpha / Float(rank) }
    }

    /// The chosen iterate and the errors along the way.
    public struct Result: Sendable {
        /// A result from its parts.
        public init(
            quantized: QuantizedTensor, a: [Float], b: [Float], plainError: Double, errors: [Double],
            bestIteration: Int,
            activationPlainError: Double? = nil, activationErrors: [Double] = []
        ) {
            self.quantized = quantized
            self.a = a
            self.b = b
            self.plainError = plainError
            self.errors = errors
            self.bestIteration = bestIteration
            self.activationPlainError = activationPlainError
            self.activationErrors = activationErrors
        }

        /// The quantized base.
        public let quantized: QuantizedTensor
        /// `lora_A` [R, in] and `lora_B` [out, R].
        public let a: [Float], b: [Float]
        /// `‖W − deq(q(W))‖ / ‖W‖`: plain quantization (QLoRA's starting point).
        public let plainError: Double
        /// `‖W − deq(Q_t) − s·B_t·A_t‖ / ‖W‖` after every step t.
        public let errors: [Double]
        /// The step kept (0-based), the one with the smallest error (activation-weighted when
        /// the start had a weighting).
        public let bestIteration: Int
        /// The error of the kept iterate.
        public var error: Double { errors[bestIteration] }
        /// With a weighting S: `‖(W − deq(q(W)))·S‖ / ‖W·S‖`, and the same of every step.
        public let activationPlainError: Double?
        public let activationErrors: [Double]
        /// The activation-weighted error of the kept iterate, when there was a weighting.
        public var activationError: Double? {
            activationErrors.indices.contains(bestIteration) ? activationErrors[bestIteration] : nil
        }
    }

    /// Runs LoftQ on `weight` [out, in]. With `weighting` (the layer's input statistics), each
    /// low-rank step minimises the activation-weighted error `‖(W − deq(Q) − s·B·A)·S‖` in closed
    /// form — the rank-R SVD of `(W − deq(Q))·S`, then `A ← A·S⁻¹` — and the iterate kept is the
    /// best by that error (reported as `activationErrors`, beside the plain weight `errors`).
    /// reference: QERA (ICLR 2025) Theorem 1 inside LoftQ's alternation (Li et al. 2023, Algorithm 1)
    public static func initialize(
        weight: [Float], shape: [Int], options: Options, weighting: ActivationWeighting? = nil,
        rng: inout RandomState
    ) throws -> Result {
        try checkFinite(weight)
        precondition(
            shape.count == 2 && weight.count == shape.product && options.iterations >= 1,
            "LoftQ: \(weight.count) values for \(shape), \(options.iterations) iterations")
        let (m, n, r) = (shape[0], shape[1], options.rank)
        precondition(
            weighting.map { $0.width == n } ?? true, "LoftQ: a weighting of width \(weighting!.width) for \(n)")
        /// ‖M·S‖ of a [m, n] matrix.
        func weightedNorm(_ matrix: [Float], _ weighting: ActivationWeighting) -> Double {
            frobeniusNorm(weighting.scaled(matrix, rows: m))
        }
        let weightNorm = frobeniusNorm(weight), scaledWeightNorm = weighting.map { weightedNorm(weight, $0) }
        let svdMethod = options.svd ?? .automatic(rows: m, columns: n)
        var residual = weight
        var errors: [Double] = [], activationErrors: [Double] = []
        var plainError = 0.0, activationPlainError: Double? = nil
        var best: (q: QuantizedTensor, a: [Float], b: [Float], index: Int)?
        let rootScale = options.scaling.squareRoot()
        for t in 0..<options.iterations {
            let q = QuantizedTensor(
                residual, shape: shape, codebook: options.codebook,
                blockSize: options.blockSize, doubleQuant: options.doubleQuant)
            var target = q.dequantized()  // → W − deq(Q)
            for i in 0..<target.count { target[i] = weight[i] - target[i] }
            if t == 0 {
                plainError = frobeniusNorm(target) / weightNorm
                activationPlainError = weighting.map { weightedNorm(target, $0) / scaledWeightNorm! }
            }
            let factored = weighting?.scaled(target, rows: m) ?? target  // (W − deq(Q))·S
            let svd: Linalg.SVD
            switch svdMethod {
            case .exact: svd = try Linalg.svd(factored, rows: m, columns: n, rank: r)
            case .randomized(let oversample, let power):
                svd = try Linalg.randomizedSVD(
                    factored, rows: m, columns: n, rank: r, oversample: oversample,
                    powerIterations: power, rng: &rng)
            }
            let k = svd.k  // = r unless the matrix is smaller than the rank
            var b = [Float](repeating: 0, count: m * r), a = [Float](repeating: 0, count: r * n)
            for j in 0..<k {
                let root = svd.s[j].squareRoot()
                for i in 0..<m { b[i * r + j] = svd.u[i * k + j] * root / rootScale }
                for i in 0..<n { a[j * n + i] = svd.vt[j * n + i] * root / rootScale }
            }
            if let weighting { a = weighting.unscaled(a, rows: r) }  // the minimiser: [(W − Q)·S]_R · S⁻¹
            let lowRank = Linalg.product(b, a, m: m, k: r, n: n)  // B·A, times s below
            var remaining = target
            for i in 0..<remaining.count {
                let update = options.scaling * lowRank[i]
                remaining[i] -= update
                residual[i] = weight[i] - update
            }
            errors.append(frobeniusNorm(remaining) / weightNorm)
            if let weighting { activationErrors.append(weightedNorm(remaining, weighting) / scaledWeightNorm!) }
            let chosen = weighting == nil ? errors : activationErrors
            if best == nil || chosen[t] < chosen[best!.index] { best = (q, a, b, t) }
        }
        return Result(
            quantized: best!.q, a: best!.a, b: best!.b, plainError: plainError, errors: errors,
            bestIteration: best!.index, activationPlainError: activationPlainError, activationErrors: activationErrors)
    }

    /// QLoRA's starting point for comparison: `Q = q(W)`, A Kaiming-uniform, B = 0.
    public static func gaussian(weight: [Float], shape: [Int], options: Options, rng: inout RandomState) throws
        -> Result
    {
        try checkFinite(weight)
        let q = QuantizedTensor(
            weight, shape: shape, codebook: options.codebook, blockSize: options.blockSize,
            doubleQuant: options.doubleQuant)
        let deq = q.dequantized()
        var diff = weight
        for i in 0..<diff.count { diff[i] -= deq[i] }
        let error = frobeniusNorm(diff) / frobeniusNorm(weight)
        let (a, b) = LoRALinear.gaussianInit(in: shape[1], out: shape[0], rank: options.rank, rng: &rng)
        return Result(quantized: q, a: a, b: b, plainError: error, errors: [error], bestIteration: 0)
    }

    /// `result` with its activation-weighted errors filled in (a start made without `weighting`,
    /// measured on it): that of plain quantization, and of the kept iterate as its only step.
    public static func measuringActivationError(
        _ result: Result, weight: [Float], shape: [Int], options: Options, weighting: ActivationWeighting
    ) -> Result {
        let (m, n) = (shape[0], shape[1])
        let plain = QuantizedTensor(
            weight, shape: shape, codebook: options.codebook, blockSize: options.blockSize,
            doubleQuant: options.doubleQuant
        ).dequantized()
        let kept = result.quantized.dequantized()
        let lowRank = Linalg.product(result.b, result.a, m: m, k: options.rank, n: n)
        let norm = frobeniusNorm(weighting.scaled(weight, rows: m))
        func error(_ difference: [Float]) -> Double { frobeniusNorm(weighting.scaled(difference, rows: m)) / norm }
        let plainError = error((0..<weight.count).map { weight[$0] - plain[$0] })
        let keptError = error((0..<weight.count).map { weight[$0] - kept[$0] - options.scaling * lowRank[$0] })
        var activationErrors = [Double](repeating: .nan, count: result.errors.count)
        activationErrors[result.bestIteration] = keptError
        return Result(
            quantized: result.quantized, a: result.a, b: result.b, plainError: result.plainError, errors: result.errors,
            bestIteration: result.bestIteration, activationPlainError: plainError, activationErrors: activationErrors)
    }

    /// `‖W − deq(Q) − s·B·A‖_F / ‖W‖_F` for `weight` [out, in], `a` [R, in], `b` [out, R].
    public static func approximationError(
        weight: [Float], shape: [Int], quantized: QuantizedTensor, a: [Float], b: [Float],
        rank: Int, scaling: Float
    ) -> Double {
        let lowRank = Linalg.product(b, a, m: shape[0], k: rank, n: shape[1])
        var remaining = quantized.dequantized()
        for i in 0..<remaining.count { remaining[i] = weight[i] - remaining[i] - scaling * lowRank[i] }
        return frobeniusNorm(remaining) / frobeniusNorm(weight)
    }

    /// Throws when `weight` holds a NaN or an infinity (quantization and the SVD need finite values).
    static func checkFinite(_ weight: [Float]) throws {
        if let index = weight.firstIndex(where: { !$0.isFinite }) {
            throw LoftQError.nonFinite(index: index, value: weight[index])
        }
    }

    /// ‖x‖_F accumulated in Double.
    public static func frobeniusNorm(_ x: [Float]) -> Double {
        var total = 0.0
        for v in x { total += Double(v) * Double(v) }
        return total.squareRoot()
    }
}

/// A weight LoftQ cannot initialise from.
public enum LoftQError: Error, CustomStringConvertible {
    /// Element `index` (of the flattened weight) is NaN or infinite.
    case nonFinite(index: Int, value: Float)

    public var description: String {
        switch self {
        case .nonFinite(let index, let value):
            return "element \(index) of the weight is \(value); LoftQ needs finite values"
        }
    }
}
