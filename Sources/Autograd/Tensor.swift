/// A dense Float32 tensor: contiguous, row-major, with an explicit shape.
///
/// A tensor is either a *leaf* (made from values; a trainable parameter when `requiresGrad` is
/// true, a constant otherwise) or the output of an op. Ops record a `GradientNode` on their output
/// only when one of their inputs requires a gradient, so evaluation with constant leaves records
/// nothing. `backward()` then fills `grad` of every tensor in the graph that requires one.
public final class Tensor {
    /// The dimensions, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    /// The values in row-major order; `data.count == shape.product`.
    public var data: [Float]
    /// The gradient of the last `backward()` root with respect to this tensor, same layout as
    /// `data`; `nil` until a backward pass reaches it (or after `zeroGrad()`).
    public var grad: [Float]?
    /// Whether gradients flow to this tensor: set for trainable leaves, derived for op outputs.
    public let requiresGrad: Bool
    /// The op that produced this tensor and how to differentiate it; `nil` for leaves.
    var node: GradientNode?

    /// A leaf tensor holding `data` with the given `shape`.
    public init(_ data: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        precondition(data.count == shape.product,
                     "Tensor: \(data.count) values do not fill shape \(shape)")
        self.data = data
        self.shape = shape
        self.requiresGrad = requiresGrad
    }

    /// An op output; `node` is set when any input requires a gradient.
    init(_ data: [Float], shape: [Int], node: GradientNode?) {
        precondition(data.count == shape.product,
                     "Tensor: \(data.count) values do not fill shape \(shape)")
        self.data = data
        self.shape = shape
        self.requiresGrad = node != nil
        self.node = node
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor([Float](repeating: 0, count: shape.product), shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor with every element equal to `value`.
    public static func full(_ value: Float, shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor([Float](repeating: value, count: shape.product), shape: shape,
               requiresGrad: requiresGrad)
    }

    /// A 0-dimensional tensor.
    public static func scalar(_ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor([value], shape: [], requiresGrad: requiresGrad)
    }

    /// The number of elements.
    public var count: Int { data.count }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The value of a one-element tensor.
    public var item: Float {
        precondition(data.count == 1, "item: tensor of shape \(shape) has \(data.count) elements")
        return data[0]
    }

    /// True for tensors no op produced (parameters and constants).
    public var isLeaf: Bool { node == nil }

    /// A constant copy of this tensor's values, cut from the graph (no gradient flows back).
    public func detached() -> Tensor { Tensor(data, shape: shape) }

    /// Forgets the gradient.
    public func zeroGrad() { grad = nil }

    /// Adds into this tensor's gradient, allocating it as zeros on first use.
    /// The body receives a buffer of `count` elements that it must *accumulate* into.
    @inline(__always)
    public func accumulateGrad(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        if grad == nil { grad = [Float](repeating: 0, count: data.count) }
        grad!.withUnsafeMutableBufferPointer { body($0) }
    }

    deinit { GradientNode.releaseIteratively(node) }
}

extension Tensor: CustomStringConvertible {
    /// Shape and the first few values, for debugging.
    public var description: String {
        let head = data.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(data.count > 8 ? ", …" : "")])"
    }
}

extension Array where Element == Int {
    /// The product of the elements (1 for an empty array): the element count of a shape.
    @inlinable public var product: Int { reduce(1, *) }
}
