import Autograd
import Foundation

/// AdamW exactly as `torch.optim.AdamW` (single-tensor path): decoupled weight decay applied
/// before the moments, `m` updated by lerp, bias corrections in Double. The moments are flat, in
/// the layout of the `ParameterArena` they update, so a step is one loop.
/// reference: torch.optim.AdamW (decoupled decay, bias-corrected), Loshchilov & Hutter (2019)
public final class AdamW {
    /// Hyper-parameters, in Double as torch keeps them (Python floats); the learning rate is given
    /// per step by the schedule.
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// First and second moments, one element per parameter element (the arena's layout).
    public internal(set) var m: [Float], v: [Float]
    /// Steps taken.
    public internal(set) var step = 0

    /// An optimizer for an arena of `count` elements.
    public init(count: Int, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: count)
        v = m
    }

    /// Restores saved state (flat moments of this optimizer's size).
    public func restore(m: [Float], v: [Float], step: Int) {
        precondition(m.count == self.m.count && v.count == self.v.count, "AdamW.restore: sizes differ")
        (self.m, self.v, self.step) = (m, v, step)
    }

    /// One update of the arena's values from its gradients with learning rate `lr`.
    public func update(_ arena: ParameterArena, lr: Double) {
        precondition(arena.count == m.count, "AdamW: an arena of \(arena.count) for \(m.count) states")
        step += 1
        let bias1 = 1 - pow(beta1, Double(step))
        let bias2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(lr / bias1)
        let bias2Root = Float(bias2.squareRoot())
        let decay = Float(1 - lr * weightDecay)
        // torch passes these as Python floats: the Float32 kernels see them rounded once.
        let (b2, oneMinusB1, oneMinusB2, eps) = (Float(beta2), Float(1 - beta1), Float(1 - beta2), Float(eps))
        let (p, grad) = (arena.values, arena.grads)
        m.withUnsafeMutableBufferPointer { mp in
            v.withUnsafeMutableBufferPointer { vp in
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
