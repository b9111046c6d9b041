import Foundation
import Autograd
import Quantization

/// A linear layer whose inference on a few rows of x (decoding) splits into independent ranges
/// of output features, so that the layers reading one input (q, k, v; gate, up) share one
/// parallel region instead of one region each, and an adapter's products run on every core
/// with its base's instead of on one core after it.
public protocol RowSplitLinear: LinearLayer {
    /// Whether `rows` rows of x take the split path (else `infer` runs as before).
    func splitsRows(_ rows: Int) -> Bool
    /// Values computed from x once per call before any output feature (an adapter's x·Aᵀ): how
    /// many per row of x (0: none).
    var preparedWidth: Int { get }
    /// Items `items` (of `0..<preparedWidth`) of the prepared values for x [rows, in] into
    /// `prepared` [rows, preparedWidth]. Different item ranges may run at once.
    func prepare(_ x: UnsafePointer<Float>, rows: Int, items: Range<Int>, into prepared: UnsafeMutablePointer<Float>)
    /// Output features `outputs` of y [rows, out] for x [rows, in], given all prepared values.
    /// Different ranges may run at once.
    func inferRows(
        _ x: UnsafePointer<Float>, rows: Int, outputs: Range<Int>, prepared: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>)
}

extension QuantizedLinear: RowSplitLinear {
    public func splitsRows(_ rows: Int) -> Bool { weight.usesDirectKernel(rows: rows) }
    public var preparedWidth: Int { 0 }
    public func prepare(
        _ x: UnsafePointer<Float>, rows: Int, items: Range<Int>, into prepared: UnsafeMutablePointer<Float>
    ) {}
    public func inferRows(
        _ x: UnsafePointer<Float>, rows: Int, outputs: Range<Int>, prepared: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>
    ) {
        weight.multiplyRows(x, rows: rows, outputs: outputs, into: y)
    }
}

extension Linear: RowSplitLinear {
    /// Up to 4 rows (one register group of the dense kernel): each weight row is read once and
    /// reduced once per row of x; more rows go to sgemm.
    public func splitsRows(_ rows: Int) -> Bool { (1...4).contains(rows) }
    public var preparedWidth: Int { 0 }
    public func prepare(
        _ x: UnsafePointer<Float>, rows: Int, items: Range<Int>, into prepared: UnsafeMutablePointer<Float>
    ) {}
    public func inferRows(
        _ x: UnsafePointer<Float>, rows: Int, outputs: Range<Int>, prepared: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>
    ) {
        weight.withValues { w in
            _ = RowKernels.denseRows(
                w.baseAddress!, ldw: inFeatures, in: inFeatures, outputs: outputs, x: x, ldx: inFeatures,
                batch: rows, y: y, ldy: outFeatures)
        }
    }
}

extension LoRALinear: RowSplitLinear {
    /// When the base splits (and prepares nothing itself).
    public func splitsRows(_ rows: Int) -> Bool {
        guard let base = base as? RowSplitLinear else { return false }
        return base.preparedWidth == 0 && base.splitsRows(rows)
    }

    /// R: h = x·Aᵀ.
    public var preparedWidth: Int { rank }

    public func prepare(
        _ x: UnsafePointer<Float>, rows: Int, items: Range<Int>, into prepared: UnsafeMutablePointer<Float>
    ) {
        loraA.withValues { a in
            _ = RowKernels.denseRows(
                a.baseAddress!, ldw: inFeatures, in: inFeatures, outputs: items, x: x, ldx: inFeatures,
                batch: rows, y: prepared, ldy: rank)
        }
    }

    /// The base's features, plus scaling · h·Bᵀ for them.
    public func inferRows(
        _ x: UnsafePointer<Float>, rows: Int, outputs: Range<Int>, prepared: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>
    ) {
        guard let base = base as? RowSplitLinear else {
            preconditionFailure("LoRALinear.inferRows: the base does not split")
        }
        base.inferRows(x, rows: rows, outputs: outputs, prepared: prepared, into: y)
        // Vectorised across features (sgemv / a small sgemm on this core): a dot product of R terms
        // per feature would spend more on its horizontal sum than on its R multiply-adds. Inside a
        // parallel region BLAS never splits, so this stays on the calling core.
        loraB.withValues { b in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: rows, n: outputs.count, k: rank, alpha: scaling, a: prepared,
                lda: rank,
                b: b.baseAddress! + outputs.lowerBound * rank, ldb: rank, beta: 1, c: y + outputs.lowerBound,
                ldc: outFeatures)
        }
    }
}

/// Runs linear layers that read one input for inference (no tape): on a few rows (decoding),
/// when every layer splits, all of them in two parallel regions (the adapters' x·Aᵀ, then every
/// output feature of every layer), else each layer's own `infer`.
/// reference: Megatron-LM's fused query_key_value projection (one product for the layers reading one input)
public enum SharedInputInference {
    /// `layers` (same `inFeatures`) on x [..., in]: one [..., out] per layer. `shared: false`
    /// runs each layer on its own (the comparison path, `LOFT_SHARED_INFERENCE=off` in the CLI);
    /// layers that do not split run their own `infer` in `compute`.
    public static func infer(_ layers: [LinearLayer], _ x: Tensor, compute: ComputeType = .fp32, shared: Bool = true)
        -> [Tensor]
    {
        guard let inFeatures = layers.first?.inFeatures else { return [] }
        precondition(
            x.shape.last == inFeatures && layers.allSatisfy { $0.inFeatures == inFeatures },
            "shared-input inference: x \(x.shape) into layers of \(layers.map(\.inFeatures)) inputs")
        let rows = x.count / inFeatures
        let split = layers.compactMap { $0 as? RowSplitLinear }
        guard shared, split.count == layers.count, split.allSatisfy({ $0.splitsRows(rows) }) else {
            return layers.map { $0.infer(x, compute: compute, shared: shared) }
        }
        let outputs = split.map { FloatBuffer(uninitialized: rows * $0.outFeatures) }
        let widths = split.map(\.preparedWidth), features = split.map(\.outFeatures)
        let prepared = widths.map { FloatBuffer(uninitialized: max(1, rows * $0)) }
        x.withValues { values in
            let xP = SendablePointer(UnsafeMutablePointer(mutating: values.baseAddress!))
            // A dot product of `in` floats a row of x per item, streamed from memory.
            Parallel.forEach(widths.reduce(0, +), costPerItem: max(1, inFeatures * rows / 4)) { items in
                forEachSegment(of: items, widths: widths) { layer, local in
                    split[layer].prepare(xP.pointer, rows: rows, items: local, into: prepared[layer].baseAddress)
                }
            }
            Parallel.forEach(features.reduce(0, +), costPerItem: max(1, inFeatures * rows / 8)) { items in
                forEachSegment(of: items, widths: features) { layer, local in
                    split[layer].inferRows(
                        xP.pointer, rows: rows, outputs: local, prepared: prepared[layer].baseAddress,
                        into: outputs[layer].baseAddress)
                }
            }
        }
        return zip(layers, outputs).map { layer, values in
            Tensor(values, shape: Array(x.shape.dropLast()) + [layer.outFeatures])
        }
    }

    /// Cuts `items` of the concatenation of ranges of `widths` into (index, range within it).
    static func forEachSegment(of items: Range<Int>, widths: [Int], _ body: (Int, Range<Int>) -> Void) {
        var start = 0
        for (index, width) in widths.enumerated() {
            let (low, high) = (max(items.lowerBound, start), min(items.upperBound, start + width))
            if low < high { body(index, (low - start)..<(high - start)) }
            start += width
            if start >= items.upperBound { return }
        }
    }
}
