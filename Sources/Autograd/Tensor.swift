/// A dense Float32 tensor: contiguous, row-major, with an explicit shape.
///
/// A tensor is either a *leaf* (made from values; a trainable parameter when `requiresGrad` is
/// true, a constant otherwise) or the output of an op. Ops record a `GradientNode` on their output
/// only when one of their inputs requires a gradient, so evaluation with constant leaves records
/// nothing. `backward()` then fills `grad` of every tensor in the graph that requires one.
public final class Tensor {
    /// The dimensions, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    /// The number of elements.
    public let count: Int
    /// Whether gradients flow to this tensor: set for trainable leaves, derived for op outputs.
    public let requiresGrad: Bool
    /// The op that produced this tensor and how to differentiate it; `nil` for leaves.
    var node: GradientNode?
    /// Owned values (`nil` once the tensor lives in a `ParameterArena` or its values are released):
    /// an array for leaves made from one (weights as loaded), a buffer for op outputs.
    private var storage: Storage?
    /// Owned gradient (unused in an arena).
    private var storedGrad: FloatBuffer?
    /// Where the values and gradient live when the tensor is a trainable parameter of an arena.
    private(set) var slot: (arena: ParameterArena, offset: Int)?
    /// How an op output's values are computed again from the op's saved inputs, if the op can.
    private var recomputation: (() -> FloatBuffer)?
    /// Whether `releaseValues()` dropped the values; reads then recompute them (see
    /// `allowRecomputation`).
    public private(set) var valuesReleased = false

    /// The values in row-major order, copied out; `data.count == shape.product`. Writing copies
    /// them in (into a new buffer, so reshaped views that shared the old one keep their values).
    /// Ops use `withValues` and `valuesBuffer` instead.
    public var data: [Float] {
        get { withValues { Array($0) } }
        set {
            precondition(newValue.count == count, "Tensor.data: \(newValue.count) values for shape \(shape)")
            guard let slot else { (storage, valuesReleased) = (.array(newValue), false); return }
            _ = UnsafeMutableBufferPointer(rebasing: slot.arena.values[slot.offset..<(slot.offset + count)]).initialize(
                from: newValue)
        }
    }

    /// The values as a buffer an op output may share (a reshape) or read: the tensor's own
    /// buffer, or a copy for a tensor in an arena or with released values.
    public var valuesBuffer: FloatBuffer {
        if case .buffer(let buffer) = storage { return buffer }
        if valuesReleased, let recomputation { return recomputation() }
        return withValues { FloatBuffer(copying: $0) }
    }

    /// The gradient of the last `backward()` root with respect to this tensor, same layout as
    /// `data`; `nil` until a backward pass reaches it (or after `zeroGrad()`). A parameter in an
    /// arena always has one (zeros after `zeroGrad()`), in the arena's gradient buffer.
    public var grad: [Float]? {
        get {
            guard let slot else { return storedGrad?.array }
            return Array(UnsafeBufferPointer(rebasing: slot.arena.grads[slot.offset..<(slot.offset + count)]))
        }
        set {
            guard let slot else { storedGrad = newValue.map { FloatBuffer($0) }; return }
            let region = UnsafeMutableBufferPointer(rebasing: slot.arena.grads[slot.offset..<(slot.offset + count)])
            if let newValue {
                precondition(newValue.count == count, "Tensor.grad: \(newValue.count) values for shape \(shape)")
                _ = region.initialize(from: newValue)
            } else {
                region.update(repeating: 0)
            }
        }
    }

    /// Calls `body` with the values, without copying (in an arena: a pointer into it).
    @inline(__always)
    public func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if let slot {
            return try body(UnsafeBufferPointer(rebasing: slot.arena.values[slot.offset..<(slot.offset + count)]))
        }
        if let storage { return try storage.withUnsafeBufferPointer(body) }
        if valuesReleased, let recomputation { return try recomputation().withUnsafeBufferPointer(body) }
        return try body(UnsafeBufferPointer(start: nil, count: 0))
    }

    /// Lets `releaseValues()` drop this op output's values: `body` computes them again, equal bit
    /// for bit, from what the op saved (ops call it on the outputs they can recompute cheaply).
    func allowRecomputation(_ body: @escaping () -> FloatBuffer) {
        precondition(slot == nil && node != nil, "allowRecomputation: only op outputs")
        recomputation = body
    }

    /// Keeps only a bf16 copy of this op output's values (round to nearest even; half the memory):
    /// every later read sees the rounded values. For the activations bf16 training saves for
    /// backward (PyTorch's autocast keeps its linear outputs in bf16 too); an op output that can
    /// recompute itself is released instead. Returns whether it did.
    @discardableResult
    public func compressToBF16() -> Bool {
        guard slot == nil, node != nil, recomputation == nil, !valuesReleased else { return false }
        guard let storage else { return false }
        let rounded = storage.withUnsafeBufferPointer { BF16Values($0) }
        recomputation = { rounded.expanded() }
        (self.storage, valuesReleased) = (nil, true)
        return true
    }

    /// Drops the values until they are next read (each read then recomputes them, without keeping
    /// them), when the op that made this tensor allows it; returns whether it did.
    @discardableResult
    public func releaseValues() -> Bool {
        guard recomputation != nil, !valuesReleased else { return false }
        (storage, valuesReleased) = (nil, true)
        return true
    }

    /// Moves this trainable tensor's values into `arena` at `offset` (used by `ParameterArena`).
    func move(into arena: ParameterArena, offset: Int) {
        precondition(
            slot == nil && requiresGrad && node == nil, "ParameterArena: only trainable leaves outside an arena move in"
        )
        let values = UnsafeMutableBufferPointer(rebasing: arena.values[offset..<(offset + count)])
        storage?.withUnsafeBufferPointer { _ = values.initialize(fromContentsOf: $0) }
        let region = UnsafeMutableBufferPointer(rebasing: arena.grads[offset..<(offset + count)])
        if let storedGrad {
            storedGrad.withUnsafeBufferPointer { _ = region.initialize(fromContentsOf: $0) }
        } else {
            region.update(repeating: 0)
        }
        (storage, storedGrad, slot) = (nil, nil, (arena, offset))
    }

    /// A leaf tensor holding `data` with the given `shape`.
    public init(_ data: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        precondition(
            data.count == shape.product,
            "Tensor: \(data.count) values do not fill shape \(shape)")
        storage = .array(data)
        count = data.count
        self.shape = shape
        self.requiresGrad = requiresGrad
    }

    /// A leaf tensor over `buffer` (taken, not copied) with the given `shape`.
    public init(_ buffer: FloatBuffer, shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        precondition(buffer.count == shape.product, "Tensor: \(buffer.count) values do not fill shape \(shape)")
        storage = .buffer(buffer)
        count = buffer.count
        self.shape = shape
        self.requiresGrad = requiresGrad
    }

    /// An op output; `node` is set when any input requires a gradient.
    init(_ data: FloatBuffer, shape: [Int], node: GradientNode?) {
        precondition(
            data.count == shape.product,
            "Tensor: \(data.count) values do not fill shape \(shape)")
        storage = .buffer(data)
        count = data.count
        self.shape = shape
        self.requiresGrad = node != nil
        self.node = node
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(FloatBuffer(zeros: shape.product), shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor with every element equal to `value`.
    public static func full(_ value: Float, shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(
            [Float](repeating: value, count: shape.product), shape: shape,
            requiresGrad: requiresGrad)
    }

    /// A 0-dimensional tensor.
    public static func scalar(_ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor([value], shape: [], requiresGrad: requiresGrad)
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements")
        return withValues { $0[0] }
    }

    /// True for tensors no op produced (parameters and constants).
    public var isLeaf: Bool { node == nil }

    /// A constant copy of this tensor's values, cut from the graph (no gradient flows back).
    public func detached() -> Tensor { Tensor(withValues { FloatBuffer(copying: $0) }, shape: shape) }

    /// Forgets the gradient (zeros it, in an arena).
    public func zeroGrad() { grad = nil }

    /// Adds into this tensor's gradient, allocating it as zeros on first use.
    /// The body receives a buffer of `count` elements that it must *accumulate* into.
    @inline(__always)
    public func accumulateGrad(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        if let slot {
            return body(UnsafeMutableBufferPointer(rebasing: slot.arena.grads[slot.offset..<(slot.offset + count)]))
        }
        let gradient = storedGrad ?? FloatBuffer(zeros: count)
        storedGrad = gradient
        gradient.withUnsafeMutableBufferPointer { body($0) }
    }

    /// Calls `body` with the gradient held outside an arena, if any (backward's read of an op
    /// output's gradient, without a copy).
    public func withStoredGrad(_ body: (UnsafeBufferPointer<Float>) -> Void) {
        storedGrad?.withUnsafeBufferPointer(body)
    }

    /// Adds `gradient` (same layout as `data`) into `grad`; takes the buffer as is when `grad` is
    /// still empty, so a single contribution costs no copy.
    public func addGrad(_ gradient: FloatBuffer) {
        precondition(gradient.count == count, "addGrad: \(gradient.count) values for tensor of shape \(shape)")
        guard requiresGrad else { return }
        if slot == nil && storedGrad == nil { storedGrad = gradient; return }
        gradient.withUnsafeBufferPointer { addGrad($0) }
    }

    /// Adds `gradient` (same layout as `data`) into `grad`, copying it when `grad` is still empty.
    public func addGrad(_ gradient: UnsafeBufferPointer<Float>) {
        precondition(gradient.count == count, "addGrad: \(gradient.count) values for tensor of shape \(shape)")
        guard requiresGrad else { return }
        if slot == nil && storedGrad == nil { storedGrad = FloatBuffer(copying: gradient); return }
        accumulateGrad { dst in
            let (d, src) = (
                SendablePointer(dst.baseAddress!),
                SendablePointer(UnsafeMutablePointer(mutating: gradient.baseAddress!))
            )
            Parallel.forEach(dst.count, costPerItem: 1) { range in
                for i in range { d.pointer[i] += src.pointer[i] }
            }
        }
    }

    deinit { GradientNode.releaseIteratively(node) }
}

extension Tensor: CustomStringConvertible {
    /// Shape and the first few values, for debugging.
    public var description: String {
        let head = withValues { Array($0.prefix(8)) }.map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}

extension Array where Element == Int {
    /// The product of the elements (1 for an empty array): the element count of a shape.
    @inlinable public var product: Int { reduce(1, *) }
}

/// Where a tensor's own values live.
private enum Storage {
    /// Values given as an array (leaves).
    case array([Float])
    /// Values from the `StepArena` (op outputs, leaves made from a buffer).
    case buffer(FloatBuffer)

    /// Calls `body` with the values.
    @inline(__always)
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        switch self {
        case .array(let values): return try values.withUnsafeBufferPointer(body)
        case .buffer(let buffer): return try buffer.withUnsafeBufferPointer(body)
        }
    }
}
