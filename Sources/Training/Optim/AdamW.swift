import Autograd
import Foundation

/// AdamW exactly as `torch.optim.AdamW` (single-tensor path): decoupled weight decay applied
/// before the moments, `m` updated by lerp, bias corrections in Double.
/// reference: torch.optim.AdamW (decoupled decay, bias-corrected), Loshchilov & Hutter (2019)
public final class AdamW {
    /// Hyper-parameters, in Double as torch keeps them (Python floats); the learning rate is given
    /// per step by the schedule.
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// First and second moments, one array per parameter, in parameter order.
    public internal(set) var m: [[Float]], v: [[Float]]
    /// Steps taken.
    public internal(set) var step = 0

    /// An optimizer for parameters with `sizes` elements each.
    public init(sizes: [Int], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        (self.beta1, self.beta2, self.eps, self.weightDecay) = (beta1, beta2, eps, weightDecay)
        m = sizes.map { [Float](repeating: 0, count: $0) }
        v = m
    }

    /// Restores saved state.
    public func restore(m: [[Float]], v: [[Float]], step: Int) {
        precondition(m.map(\.count) == self.m.map(\.count) && v.map(\.count) == self.v.map(\.count), "AdamW.restore: sizes differ")
        (self.m, self.v, self.step) = (m, v, step)
    }

    /// One update of `parameters` (their `grad`, missing = zero) with learning rate `lr`.
    public func update(_ parameters: [Tensor], lr: Double) {
        precondition(parameters.count == m.count, "AdamW: \(parameters.count) parameters for \(m.count) states")
        step += 1
        let bias1 = 1 - pow(beta1, Double(step))
        let bias2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(lr / bias1)
        let bias2Root = Float(bias2.squareRoot())
        let decay = Float(1 - lr * weightDecay)
        // torch passes these as Python floats: the Float32 kernels see them rounded once.
        let (b2, oneMinusB1, oneMinusB2, eps) = (Float(beta2), Float(1 - beta1), Float(1 - beta2), Float(eps))
        for (index, parameter) in parameters.enumerated() {
            let grad = parameter.grad ?? [Float](repeating: 0, count: parameter.count)
            m[index].withUnsafeMutableBufferPointer { mp in
                v[index].withUnsafeMutableBufferPointer { vp in
                    parameter.data.withUnsafeMutableBufferPointer { p in
                        for i in 0..<p.count {
                            let g = grad[i]
                            p[i] *= decay
                            mp[i] += (g - mp[i]) * oneMinusB1
                            vp[i] = vp[i] * b2 + oneMinusB2 * g * g
                            p[i] -= stepSize * mp[i] / (vp[i].squareRoot() / bias2Root + eps)
                        }
                    }
                }
            }
        }
    }
}
