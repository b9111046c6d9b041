/// Helpers the ops use to allocate results and to hand gradients back.
extension Tensor {
    /// Adds `gradient` (same layout as `data`) into `grad`.
    public func addGrad(_ gradient: [Float]) {
        gradient.withUnsafeBufferPointer { addGrad($0) }
    }
}

/// A buffer of `count` Floats whose every element `body` writes (no zero-fill first).
@inline(__always)
public func uninitializedFloats(_ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> FloatBuffer {
    let buffer = FloatBuffer(uninitialized: count)
    buffer.withUnsafeMutableBufferPointer(body)
    return buffer
}

/// A buffer of `count` zeros that `body` then fills or accumulates into.
@inline(__always)
public func zeroedFloats(_ count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> FloatBuffer {
    let buffer = FloatBuffer(zeros: count)
    buffer.withUnsafeMutableBufferPointer(body)
    return buffer
}
