import Autograd
import Foundation

/// How much each input direction of a linear matters, from its inputs' second moment
/// Σ = E[x·xᵀ] [in, in]: the low-rank correction then minimises `‖(W − Q − s·B·A)·S‖` with
/// `S = Σ^{1/2}` — the error on the outputs the layer actually produces — instead of the plain
/// weight error. `exact` uses the symmetric square root; `diagonal` only diag(Σ)^{1/2}.
/// A damping of `damping · mean(diag Σ)` is added to the diagonal so that S is invertible.
/// reference: Zhang et al., "QERA" (ICLR 2025), Theorem 1 (exact) and the diagonal approximation;
/// CLoQ (TMLR 2025) for the calibrated closed-form initialisation
public struct ActivationWeighting: Sendable {
    /// Which form of S.
    public enum Form: String, Sendable, Codable {
        case exact, diagonal
    }

    /// S [n, n] and S⁻¹ [n, n], row-major (diagonal: only the diagonals, [n]).
    public let scale: [Float], inverse: [Float]
    public let form: Form
    /// The input width n.
    public let width: Int

    /// S from the second moment `moment` [n, n] (symmetric, positive semi-definite).
    /// - Throws: `LinalgError` when the eigendecomposition fails (non-finite values).
    public init(moment: [Double], width n: Int, form: Form, damping: Double = 1e-4) throws {
        precondition(moment.count == n * n && damping >= 0, "ActivationWeighting: \(moment.count) values for \(n)")
        var meanDiagonal = 0.0
        for i in 0..<n { meanDiagonal += moment[i * n + i] }
        meanDiagonal /= Double(n)
        let floor = max(damping * meanDiagonal, Double.leastNormalMagnitude)
        (self.form, width) = (form, n)
        switch form {
        case .diagonal:
            let roots = (0..<n).map { (max(moment[$0 * n + $0], 0) + floor).squareRoot() }
            scale = roots.map { Float($0) }
            inverse = roots.map { Float(1 / $0) }
        case .exact:
            let eigen = try Linalg.symmetricEigen(moment, n: n)
            let roots = eigen.values.map { (max($0, 0) + floor).squareRoot() }
            scale = eigen.composed { roots[$0] }.map { Float($0) }
            inverse = eigen.composed { 1 / roots[$0] }.map { Float($0) }
        }
    }

    /// The identity weighting (Σ = I): the plain weight error.
    public static func identity(width n: Int, form: Form = .exact) -> ActivationWeighting {
        ActivationWeighting(width: n, form: form)
    }

    private init(width n: Int, form: Form) {
        (self.form, width) = (form, n)
        switch form {
        case .diagonal: (scale, inverse) = ([Float](repeating: 1, count: n), [Float](repeating: 1, count: n))
        case .exact:
            var eye = [Float](repeating: 0, count: n * n)
            for i in 0..<n { eye[i * n + i] = 1 }
            (scale, inverse) = (eye, eye)
        }
    }

    /// `M·S` for `matrix` [m, n].
    public func scaled(_ matrix: [Float], rows m: Int) -> [Float] { apply(scale, to: matrix, rows: m) }

    /// `M·S⁻¹` for `matrix` [m, n].
    public func unscaled(_ matrix: [Float], rows m: Int) -> [Float] { apply(inverse, to: matrix, rows: m) }

    private func apply(_ factor: [Float], to matrix: [Float], rows m: Int) -> [Float] {
        precondition(matrix.count == m * width, "ActivationWeighting: \(matrix.count) values for [\(m), \(width)]")
        switch form {
        case .exact: return Linalg.product(matrix, factor, m: m, k: width, n: width)
        case .diagonal:
            var out = matrix
            for i in 0..<m { for j in 0..<width { out[i * width + j] *= factor[j] } }
            return out
        }
    }
}
