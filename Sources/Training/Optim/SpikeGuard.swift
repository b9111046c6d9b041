/// Skips the optimizer update of a step whose loss or gradient norm is an outlier: its z-score
/// against the last `window` values of the run exceeds a bound. Every value enters the window,
/// skipped or not; until the window is full nothing is skipped. The state is saved in checkpoints,
/// so a resumed run skips exactly what an uninterrupted one would.
/// reference: llm.c `outlier_detector.h` and `train_gpt2.cu` flags -sl / -sg (window 128)
public struct OutlierDetector: Codable, Equatable, Sendable {
    /// The last values, oldest overwritten first.
    public private(set) var values: [Double] = []
    public private(set) var next = 0
    public let window: Int

    /// A detector over the last `window` values.
    public init(window: Int) { self.window = max(2, window) }

    /// The z-score of `value` against the window (nil while the window is not full), then adds it.
    public mutating func update(_ value: Double) -> Double? {
        var z: Double?
        if values.count == window {
            let mean = values.reduce(0, +) / Double(window)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(window)
            z = variance > 0 ? (value - mean) / variance.squareRoot() : (value > mean ? .infinity : 0)
            values[next] = value
            next = (next + 1) % window
        } else {
            values.append(value)
        }
        return z
    }
}

/// The two detectors of a run and the bounds from its config (0: that guard is off).
public struct SpikeGuard: Codable, Equatable, Sendable {
    public var loss: OutlierDetector, gradNorm: OutlierDetector

    /// Fresh detectors over `window` steps.
    public init(window: Int) { (loss, gradNorm) = (OutlierDetector(window: window), OutlierDetector(window: window)) }

    /// Feeds a step's loss and gradient norm; true when the update should be skipped.
    public mutating func shouldSkip(loss value: Float, gradNorm norm: Double, lossBound: Double, gradBound: Double)
        -> Bool
    {
        let lossZ = loss.update(Double(value)), gradZ = gradNorm.update(norm)
        return (lossBound > 0 && (lossZ ?? 0) > lossBound) || (gradBound > 0 && (gradZ ?? 0) > gradBound)
    }
}
