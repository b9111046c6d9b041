import Foundation

/// A block of Floats that tensors and op scratch live in: 64-byte aligned, drawn from the
/// `StepArena` while a training loop keeps one (a block of the same size freed earlier is taken
/// again, so steady-state steps ask the system for no memory), from the system otherwise. A
/// reference: copies of it share the block, so only its owner writes.
public final class FloatBuffer {
    /// The number of Floats.
    public let count: Int
    /// The first Float (at least one element is allocated, so it is never dangling).
    public let baseAddress: UnsafeMutablePointer<Float>
    /// The Floats the block holds (`count` or more, when the arena gave a larger waiting block).
    let capacity: Int

    /// A block of `count` Floats whose values are not set: the caller writes every one.
    public init(uninitialized count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        (baseAddress, capacity) = StepArena.take(count)
    }

    /// `count` zeros.
    public convenience init(zeros count: Int) {
        self.init(uninitialized: count)
        baseAddress.update(repeating: 0, count: count)
    }

    /// A copy of `values`.
    public convenience init(copying values: UnsafeBufferPointer<Float>) {
        self.init(uninitialized: values.count)
        if let source = values.baseAddress { baseAddress.update(from: source, count: values.count) }
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(uninitialized: values.count)
        values.withUnsafeBufferPointer {
            if let source = $0.baseAddress { baseAddress.update(from: source, count: $0.count) }
        }
    }

    deinit { StepArena.give(baseAddress, capacity: capacity) }

    /// The values as a new array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: baseAddress, count: count)) }

    /// Element `index`.
    @inline(__always)
    public subscript(index: Int) -> Float {
        get { baseAddress[index] }
        set { baseAddress[index] = newValue }
    }

    /// Calls `body` with the values.
    @inline(__always)
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: baseAddress, count: count))
    }

    /// Calls `body` with the values to write.
    @inline(__always)
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R
    {
        try body(UnsafeMutableBufferPointer(start: baseAddress, count: count))
    }
}
