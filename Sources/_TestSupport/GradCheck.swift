import Autograd
import XCTest

/// The largest difference found by `gradCheck`, for reporting.
public struct GradCheckReport {
    /// Max |numeric − analytic| over all checked elements, and the largest |analytic| value.
    public var maxError: Double = 0, maxGradient: Double = 0
}

/// Central-difference gradient check of `function` at `inputs`.
///
/// The scalar checked is `L = Σ wᵢ·outᵢ` with fixed pseudo-random weights `w` (so every output
/// element matters), evaluated in Double from the Float32 outputs. For every element x of every
/// input that requires a gradient, `(L(x+h) − L(x−h)) / 2h` (with the step actually representable
/// in Float32) must match the analytic gradient from `backward(seed: w)` within
/// `atol + rtol · max|analytic|`.
///
/// Tolerance rationale: the truncation error is O(h²·f''') ≈ 1e-4 relative for h = 1e-2 on these
/// smooth ops, and Float32 rounding of the outputs adds about 1e-7·Σ|wᵢ·outᵢ| / 2h; the defaults
/// (rtol 5e-3, atol 2e-4) sit a few times above both.
@discardableResult
public func gradCheck(
    _ inputs: [Tensor], step h: Float = 1e-2, rtol: Double = 5e-3, atol: Double = 2e-4,
    file: StaticString = #filePath, line: UInt = #line,
    _ function: ([Tensor]) -> Tensor
) -> GradCheckReport {
    for input in inputs { input.zeroGrad() }
    let output = function(inputs)
    var rng = RandomState(seed: 12345)
    let weights = rng.uniform(count: output.count, low: -1, high: 1)
    output.backward(seed: weights)

    func objective() -> Double {
        let out = function(inputs).data
        var total = 0.0
        for i in 0..<out.count { total += Double(weights[i]) * Double(out[i]) }
        return total
    }

    var report = GradCheckReport()
    var failures: [String] = []
    for (index, input) in inputs.enumerated() where input.requiresGrad {
        let analytic = input.grad ?? [Float](repeating: 0, count: input.count)
        let scaleRef = analytic.map { abs(Double($0)) }.max() ?? 0
        report.maxGradient = max(report.maxGradient, scaleRef)
        for i in 0..<input.count {
            let original = input.data[i]
            input.data[i] = original + h
            let plusStep = Double(input.data[i]) - Double(original)
            let plus = objective()
            input.data[i] = original - h
            let minusStep = Double(original) - Double(input.data[i])
            let minus = objective()
            input.data[i] = original
            let numeric = (plus - minus) / (plusStep + minusStep)
            let error = abs(numeric - Double(analytic[i]))
            report.maxError = max(report.maxError, error)
            if error > atol + rtol * scaleRef, failures.count < 5 {
                failures.append("input \(index) element \(i): numeric \(numeric), analytic \(analytic[i])")
            }
        }
    }
    if !failures.isEmpty {
        XCTFail(
            "gradient check failed (max error \(report.maxError), max |grad| \(report.maxGradient)):\n"
                + failures.joined(separator: "\n"), file: file, line: line)
    }
    return report
}
