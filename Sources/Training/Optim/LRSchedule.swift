import Foundation

/// Learning-rate schedules with linear warmup, as transformers' `get_*_schedule_with_warmup`:
/// the multiplier at 0-based step s is s / warmup during warmup (so step 0 runs at lr 0), then
/// constant, linear decay to 0, or a half cosine to 0 at `totalSteps`.
/// reference: transformers.optimization (get_cosine_schedule_with_warmup, num_cycles 0.5)
public struct LRSchedule: Equatable, Sendable {
    /// The shape after warmup.
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, linear, cosine }

    public let kind: Kind
    public let peak: Double
    public let warmupSteps: Int, totalSteps: Int

    /// A schedule peaking at `peak` after `warmupSteps`, ending at `totalSteps`.
    public init(kind: Kind, peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate of 0-based optimizer step `step`.
    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant:
            return peak
        case .linear:
            return peak * max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return peak * max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}

/// Global-norm gradient clipping as `torch.nn.utils.clip_grad_norm_` (norm type 2), over one
/// flat gradient buffer (a `ParameterArena`'s).
/// reference: torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (total + 1e-6), clamped to 1)
public enum GradientClipping {
    /// The 2-norm of all gradients together (accumulated in Double).
    public static func globalNorm(_ gradients: UnsafeBufferPointer<Float>) -> Double {
        var total = 0.0
        for x in gradients { total += Double(x) * Double(x) }
        return total.squareRoot()
    }

    /// Scales `gradients` in place so their global norm is at most `maxNorm`; returns the norm
    /// before clipping.
    @discardableResult
    public static func clip(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Float) -> Double {
        let norm = globalNorm(UnsafeBufferPointer(gradients))
        let coefficient = Float(Double(maxNorm) / (norm + 1e-6))
        if coefficient < 1 {
            for i in gradients.indices { gradients[i] *= coefficient }
        }
        return norm
    }
}
