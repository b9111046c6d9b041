/// The trainable parameters of a model in one contiguous buffer, their gradients in a second of
/// the same layout (llm.c's parameter arena): zeroing, clipping, the optimizer step, checkpoint
/// writes and an all-reduce are each one loop over one buffer. The tensors stay usable as before;
/// their values and gradients now live here.
/// reference: karpathy/llm.c train_gpt2.c (malloc_and_point_parameters)
public final class ParameterArena {
    /// Elements in all parameters together.
    public let count: Int
    /// Every parameter's values, in the order given, back to back.
    public let values: UnsafeMutableBufferPointer<Float>
    /// Their gradients, same layout.
    public let grads: UnsafeMutableBufferPointer<Float>
    /// Where each parameter starts and how long it is, in the order given.
    public let ranges: [Range<Int>]

    /// Moves `tensors` (trainable leaves, each at most once) into one arena, values and any
    /// gradient included.
    public init(_ tensors: [Tensor]) {
        var ranges: [Range<Int>] = []
        var offset = 0
        for tensor in tensors {
            ranges.append(offset..<(offset + tensor.count))
            offset += tensor.count
        }
        (count, self.ranges) = (offset, ranges)
        valueStorage = .allocate(capacity: max(1, offset))
        gradStorage = .allocate(capacity: max(1, offset))
        valueStorage.initialize(repeating: 0)
        gradStorage.initialize(repeating: 0)
        values = UnsafeMutableBufferPointer(rebasing: valueStorage[0..<offset])
        grads = UnsafeMutableBufferPointer(rebasing: gradStorage[0..<offset])
        for (tensor, range) in zip(tensors, ranges) { tensor.move(into: self, offset: range.lowerBound) }
    }

    /// The allocations behind `values` and `grads` (at least one element each).
    private let valueStorage: UnsafeMutableBufferPointer<Float>, gradStorage: UnsafeMutableBufferPointer<Float>

    deinit {
        valueStorage.deallocate()
        gradStorage.deallocate()
    }

    /// Zeros every gradient (one loop).
    public func zeroGrads() { grads.update(repeating: 0) }
}
