import Autograd
import Foundation
import Llama
import LoRA

/// The input second moments Σ = E[x·xᵀ] of a model's linears, from one pass of the
/// full-precision model over calibration tokens: one [n, n] matrix per layer and input — the
/// linears that read the same input share it (q, k, v; gate, up) — accumulated in Double.
/// What the activation-aware start (`lora.init: loftq_aware`) weights its error with.
/// reference: QERA (ICLR 2025) §3 (calibration); CLoQ (TMLR 2025)
public struct CalibrationStatistics: Sendable {
    /// Where a linear's input comes from.
    public enum Site: String, CaseIterable, Sendable {
        /// The normed block input: q, k, v.
        case attentionInput = "attn_in"
        /// The attention output: o.
        case attentionOutput = "attn_out"
        /// The normed residual before the MLP: gate, up.
        case mlpInput = "mlp_in"
        /// SwiGLU's product: down.
        case mlpHidden = "mlp_hidden"

        /// The input `module` reads.
        public init(_ module: LinearModule) {
            switch module {
            case .q, .k, .v: self = .attentionInput
            case .o: self = .attentionOutput
            case .gate, .up: self = .mlpInput
            case .down: self = .mlpHidden
            }
        }
    }

    /// Σ of each (layer, site) present: `key(layer:site:)` → (n, row-major [n, n]).
    public var moments: [String: (width: Int, values: [Double])]
    /// Calibration sequences and tokens seen.
    public var sequences: Int, tokens: Int

    /// The name of a (layer, site) moment, e.g. `layers.3.attn_in`.
    public static func key(layer: Int, site: Site) -> String { "layers.\(layer).\(site.rawValue)" }

    /// The weighting for `module` of `layer` (`form` exact or diagonal), nil when its input was
    /// not collected.
    public func weighting(layer: Int, module: LinearModule, form: ActivationWeighting.Form, damping: Double = 1e-4)
        throws -> ActivationWeighting?
    {
        guard let moment = moments[Self.key(layer: layer, site: Site(module))] else { return nil }
        return try ActivationWeighting(moment: moment.values, width: moment.width, form: form, damping: damping)
    }

    /// Runs `model` (no tape) over `sequences` of token ids, collecting Σ for the inputs of
    /// `modules` in every layer. The model's linears are wrapped for the pass and restored after.
    public static func collect(
        model: LlamaModel, sequences: [[Int32]], modules: Set<LinearModule>, execution: ExecutionOptions = .fp32
    ) -> CalibrationStatistics {
        let sites = Set(modules.map(Site.init))
        var accumulators: [String: MomentAccumulator] = [:]
        let scratch = MomentAccumulator.Scratch()  // one product buffer for all: [n, n] of the widest input
        var originals: [(TransformerBlock, LinearModule, LinearLayer)] = []
        for (layer, block) in model.blocks.enumerated() {
            for site in sites {
                // the first module of the site records; the others only compute
                let members = LinearModule.allCases.filter { Site($0) == site }
                let accumulator = MomentAccumulator(width: block[members[0]].inFeatures, scratch: scratch)
                accumulators[key(layer: layer, site: site)] = accumulator
                originals.append((block, members[0], block[members[0]]))
                block[members[0]] = MomentProbe(base: block[members[0]], accumulator: accumulator)
            }
        }
        defer { for (block, module, original) in originals { block[module] = original } }
        var tokens = 0
        for sequence in sequences where !sequence.isEmpty {
            _ = model.hidden(
                tokens: sequence, batch: 1, steps: sequence.count, recording: false, execution: execution)
            tokens += sequence.count
        }
        return CalibrationStatistics(
            moments: accumulators.mapValues { ($0.width, $0.mean) }, sequences: sequences.count, tokens: tokens)
    }

    /// The bytes the moments take in Double (what `collect` holds).
    public var bytes: Int { moments.values.reduce(0) { $0 + $1.values.count * 8 } }
}

/// Σ x·xᵀ over rows, in Double across calls (each call's rows in one fp32 BLAS product).
final class MomentAccumulator {
    /// The fp32 product buffer the accumulators of one pass share (they run one at a time).
    final class Scratch {
        var values: [Float] = []
    }

    let width: Int
    private(set) var sum: [Double]
    private let scratch: Scratch
    private(set) var rows = 0

    init(width: Int, scratch: Scratch) {
        (self.width, self.scratch) = (width, scratch)
        sum = [Double](repeating: 0, count: width * width)
    }

    /// Adds the rows of `x` [count, width].
    func add(_ x: UnsafePointer<Float>, rows count: Int) {
        guard count > 0 else { return }
        if scratch.values.count < width * width { scratch.values = [Float](repeating: 0, count: width * width) }
        scratch.values.withUnsafeMutableBufferPointer { c in
            BLAS.sgemm(
                transposeA: true, transposeB: false, m: width, n: width, k: count, a: x, lda: width, b: x,
                ldb: width, c: c.baseAddress!, ldc: width)
        }
        scratch.values.withUnsafeBufferPointer { c in for i in 0..<sum.count { sum[i] += Double(c[i]) } }
        rows += count
    }

    /// E[x·xᵀ] (zeros before any row).
    var mean: [Double] { rows == 0 ? sum : sum.map { $0 / Double(rows) } }
}

/// A linear that records its inputs' second moment and computes as its base.
final class MomentProbe: LinearLayer {
    let base: LinearLayer
    let accumulator: MomentAccumulator

    init(base: LinearLayer, accumulator: MomentAccumulator) { (self.base, self.accumulator) = (base, accumulator) }

    var inFeatures: Int { base.inFeatures }
    var outFeatures: Int { base.outFeatures }

    func callAsFunction(_ x: Tensor, compute: ComputeType) -> Tensor {
        x.withValues { accumulator.add($0.baseAddress!, rows: x.count / inFeatures) }
        return base(x, compute: compute)
    }

    func infer(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, compute: ComputeType) {
        accumulator.add(x, rows: rows)
        base.infer(x, rows: rows, into: y, compute: compute)
    }

    var trainableParameters: [(name: String, tensor: Tensor)] { [] }

    func accumulateInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, compute: ComputeType
    ) {
        base.accumulateInputGradient(dy, rows: rows, into: dx, compute: compute)
    }
}
