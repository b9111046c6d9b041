/// Helpers the ops use to allocate results and to hand gradients back.
extension Tensor {
    /// Adds `gradient` (same layout as `data`) into `grad`; takes the array as is when `grad` is
    /// still empty, so a single contribution costs no copy.
    public func addGrad(_ gradient: [Float]) {
        precondition(gradient.count == count,
                     "addGrad: \(gradient.count) values for tensor of shape \(shape)")
        guard requiresGrad else { return }
        if slot == nil && grad == nil { grad = gradient; return }
        gradient.withUnsafeBufferPointer { src in
            accumulateGrad { dst in
                for i in 0..<dst.count { dst[i] += src[i] }
            }
        }
    }
}

/// An array of `count` Floats whose every element `body` writes (no zero-fill first).
@inline(__always)
func uninitializedFloats(
    _ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void
) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        body(buffer)
        initialized = count
    }
}

/// An array of `count` zeros that `body` then fills or accumulates into.
@inline(__always)
func zeroedFloats(_ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
    var result = [Float](repeating: 0, count: count)
    result.withUnsafeMutableBufferPointer { body($0) }
    return result
}
