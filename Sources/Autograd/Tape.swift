/// The record of one op in the graph: its inputs and how to send the output gradient back to them.
///
/// The backward closure receives the output gradient, the inputs, and which inputs need a
/// gradient (tinygrad's `needs_input_grad`, fixed when the op was recorded); it must *accumulate*
/// into the gradients of exactly those (`input.accumulateGrad { ... }`) and compute no other. Closures never
/// capture tensors (only saved values), so the graph is a DAG owned from the root down and can be
/// freed iteratively.
public final class GradientNode {
    /// The op name, for debugging and error messages.
    public let name: String
    /// The tensors the op read.
    var inputs: [Tensor]
    /// Sends `outputGrad` to the inputs' gradients.
    var backward: Tape.Backward?
    /// Which inputs need a gradient, in input order.
    let needsInputGrad: [Bool]

    init(name: String, inputs: [Tensor], backward: @escaping Tape.Backward) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
        needsInputGrad = inputs.map(\.requiresGrad)
    }

    /// Unlinks a chain of nodes without recursion, so that dropping a graph of any depth cannot
    /// overflow the stack through nested deinits.
    static func releaseIteratively(_ root: GradientNode?) {
        guard let root else { return }
        var pending = [root]
        while let node = pending.popLast() {
            var inputs = node.inputs
            node.inputs = []
            node.backward = nil
            while var input = inputs.popLast() {
                if isKnownUniquelyReferenced(&input), let inner = input.node {
                    input.node = nil
                    pending.append(inner)
                }
            }
        }
    }
}

/// Recording ops and running reverse mode.
public enum Tape {
    /// An op's backward: `(outputGrad, inputs, needsInputGrad)`; see `GradientNode`.
    public typealias Backward = (_ outputGrad: UnsafeBufferPointer<Float>, _ inputs: [Tensor], _ needsInputGrad: [Bool])
        -> Void

    /// The output tensor of an op: records `backward` when any input requires a gradient.
    /// - Parameters:
    ///   - name: the op name.
    ///   - data, shape: the forward result.
    ///   - inputs: the tensors the op read, in the order `backward` expects them.
    ///   - backward: accumulates the input gradients from the output gradient (see `GradientNode`).
    public static func record(
        _ name: String, data: FloatBuffer, shape: [Int], inputs: [Tensor],
        backward: @escaping Backward
    ) -> Tensor {
        let tracked = inputs.contains { $0.requiresGrad }
        let node = tracked ? GradientNode(name: name, inputs: inputs, backward: backward) : nil
        return Tensor(data, shape: shape, node: node)
    }

    /// `record` with the result given as an array (copied; for small results such as a loss).
    public static func record(
        _ name: String, data: [Float], shape: [Int], inputs: [Tensor],
        backward: @escaping Backward
    ) -> Tensor {
        record(name, data: FloatBuffer(data), shape: shape, inputs: inputs, backward: backward)
    }

    /// The op nodes reachable from `root`, inputs before outputs (iterative depth-first search).
    static func topologicalOrder(from root: Tensor) -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(tensor: Tensor, expanded: Bool)] = [(root, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard tensor.requiresGrad, visited.insert(ObjectIdentifier(tensor)).inserted else {
                continue
            }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGrad {
                if !visited.contains(ObjectIdentifier(input)) { stack.append((input, false)) }
            }
        }
        return order
    }
}

extension Tensor {
    /// Reverse mode from this tensor: adds `d self / d x` (times `seed`, default ones) into the
    /// `grad` of every tensor in its graph that requires a gradient.
    ///
    /// Gradients of leaves accumulate across calls (call `zeroGrad()` between steps); gradients of
    /// intermediate tensors are released as soon as they have been propagated, and so is the
    /// graph: a tensor can be backpropagated through once.
    public func backward(seed: [Float]? = nil) {
        if let seed {
            seed.withUnsafeBufferPointer { backward(seed: $0) }
        } else {
            precondition(requiresGrad, "backward: tensor of shape \(shape) does not require grad")
            accumulateGrad { g in for i in 0..<g.count { g[i] += 1 } }
            propagate()
        }
    }

    /// `backward` from the output gradient `seed` (same layout as `data`).
    public func backward(seed: UnsafeBufferPointer<Float>) {
        precondition(requiresGrad, "backward: tensor of shape \(shape) does not require grad")
        precondition(seed.count == count, "backward: seed of \(seed.count) for shape \(shape)")
        addGrad(seed)
        propagate()
    }

    /// Runs the backward closures from this tensor down, in reverse topological order.
    private func propagate() {
        let order = Tape.topologicalOrder(from: self)
        for tensor in order.reversed() {
            guard let node = tensor.node else { continue }
            if let backward = node.backward {
                tensor.withStoredGrad { backward($0, node.inputs, node.needsInputGrad) }
            }
            tensor.grad = nil
            node.backward = nil
            node.inputs = []
        }
    }
}
