import Autograd
import XCTest

/// Asserts `actual` and `expected` have the same length and every element pair differs by at
/// most `atol + rtol·|expected|`; the message names the first offending index.
public func assertClose(
    _ actual: [Float], _ expected: [Float], atol: Float = 1e-6, rtol: Float = 0,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(message) length \(actual.count) != \(expected.count)", file: file, line: line)
        return
    }
    for i in 0..<actual.count {
        let bound = atol + rtol * abs(expected[i])
        if !(abs(actual[i] - expected[i]) <= bound) {
            XCTFail(
                "\(message) element \(i): \(actual[i]) vs expected \(expected[i]) (bound \(bound))",
                file: file, line: line)
            return
        }
    }
}

/// A tensor of `shape` with values uniform in [-scale, scale) from `seed`.
public func randomTensor(
    _ shape: [Int], seed: UInt64, scale: Float = 1,
    requiresGrad: Bool = true
) -> Tensor {
    var rng = RandomState(seed: seed)
    return Tensor(
        rng.uniform(count: shape.product, low: -scale, high: scale), shape: shape,
        requiresGrad: requiresGrad)
}
