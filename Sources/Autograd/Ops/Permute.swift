// MARK: - Permute / transpose: reorder dimensions (a copy; the backward is the inverse permutation).

extension Tensor {
    /// The tensor with its dimensions reordered: output dimension `i` is input dimension
    /// `order[i]`. Splitting attention heads is `x.reshaped([B, T, H, Dh]).permuted([0, 2, 1, 3])`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(
            order.count == rank && Set(order) == Set(0..<rank),
            "permute: order \(order) for shape \(shape)")
        let outShape = order.map { shape[$0] }
        let result = withValues { permuteValues($0, shape: shape, order: order) }
        var inverse = [Int](repeating: 0, count: order.count)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return Tape.record("permute", data: result, shape: outShape, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(permuteValues(dy, shape: outShape, order: inverse))
        }
    }

    /// The tensor with dimensions `a` and `b` swapped.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }
}

/// `values` of `shape` rearranged so that output dimension `i` is input dimension `order[i]`.
/// The innermost run that stays contiguous is copied as a block.
func permuteValues(_ values: UnsafeBufferPointer<Float>, shape: [Int], order: [Int]) -> FloatBuffer {
    let rank = shape.count
    if order == Array(0..<rank) { return FloatBuffer(copying: values) }
    var inStrides = [Int](repeating: 1, count: rank)
    for d in stride(from: rank - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * shape[d + 1] }
    let outShape = order.map { shape[$0] }
    let strides = order.map { inStrides[$0] }  // input stride of each output dimension
    // Output dimensions at the end that are also the last input dimensions in order form one block.
    var blockDims = 0
    while blockDims < rank, order[rank - 1 - blockDims] == rank - 1 - blockDims { blockDims += 1 }
    let block = outShape.suffix(blockDims).product
    let outerDims = rank - blockDims
    let total = values.count
    return uninitializedFloats(total) { out in
        var index = [Int](repeating: 0, count: outerDims)
        var offset = 0
        var o = 0
        while o < total {
            for j in 0..<block { out[o + j] = values[offset + j] }
            o += block
            var d = outerDims - 1
            while d >= 0 {  // advance the odometer
                index[d] += 1
                offset += strides[d]
                if index[d] < outShape[d] { break }
                offset -= strides[d] * outShape[d]
                index[d] = 0
                d -= 1
            }
        }
    }
}
