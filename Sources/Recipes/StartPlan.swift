import Autograd
import Distributed
import Formats
import Llama
import LoRA
import Quantization
import Support

/// How the linears of a quantized model start — each frozen quantized weight and, on a target,
/// its adapter (LoftQ or QLoRA's init). `loft train` and `loft quantize` both start a matrix
/// here, so their codebooks, options and random streams cannot drift apart, and over MPI both
/// share the work the same way: matrix i (in model order) by rank i mod N, then each result
/// broadcast from the rank that made it, so every rank ends with a single process's bits.
struct StartPlan {
    /// How one linear starts.
    enum Start {
        /// Not a target: the quantized weight alone.
        case frozen(QuantizedTensor)
        /// A target: quantized base and adapter, with its errors.
        case adapted(LoftQ.Result)
    }

    /// A start and the seconds it took to compute.
    struct Timed {
        let start: Start
        let seconds: Double
    }

    let spec: QuantizationSpec
    let layers: Int
    let rank: Int, alpha: Float, iterations: Int
    let initialization: LoRAInitialization
    let targets: Set<LinearModule>
    /// nil: `LoftQ.SVDMethod.automatic`.
    let svd: LoftQ.SVDMethod?
    /// The run's random root (the seed of the config or of `--seed`).
    let root: RandomState
    /// The inputs' second moments, when calibrated: `loftq_aware` minimises with them, and every
    /// start reports its activation-weighted error too.
    var calibration: CalibrationStatistics? = nil
    var weightingForm: ActivationWeighting.Form = .exact
    /// The last weighting made: matrices come in model order, so q, k, v (and gate, up), which
    /// read one input, share one eigendecomposition.
    private let lastWeighting = WeightingCache()

    /// Every linear of a model of `layers` layers, in model order: what the ranks split.
    var matrices: [(layer: Int, module: LinearModule)] {
        (0..<layers).flatMap { layer in LinearModule.allCases.map { (layer, $0) } }
    }

    /// The start of linear `module` of `layer` from its fp32 `weight` of `shape` [out, in]. Its
    /// random stream is split from `root` by the initialization and the module path (in
    /// `LoRAInitialization.start`), so the result does not depend on which rank computes it.
    func start(layer: Int, module: LinearModule, weight: [Float], shape: [Int]) throws -> Start {
        let options = LoftQ.Options(
            codebook: spec.codebook(layer: layer, of: layers), blockSize: spec.blockSize,
            doubleQuant: spec.doubleQuant, rank: rank, alpha: alpha, iterations: iterations, svd: svd)
        guard targets.contains(module) else {
            return .frozen(
                QuantizedTensor(
                    weight, shape: shape, codebook: options.codebook, blockSize: options.blockSize,
                    doubleQuant: options.doubleQuant))
        }
        // The start minimises with the configured form; every error is reported with the exact S,
        // so that starts compare on one measure.
        let exact = try calibration.flatMap { statistics in
            try lastWeighting.weighting(for: CalibrationStatistics.key(layer: layer, site: .init(module))) {
                try statistics.weighting(layer: layer, module: module, form: .exact)
            }
        }
        let weighting =
            weightingForm == .exact
            ? exact : try calibration?.weighting(layer: layer, module: module, form: weightingForm)
        let result = try initialization.start(
            weight: weight, shape: shape, options: options, weighting: weighting, layer: layer, module: module,
            root: root)
        guard let exact, result.activationErrors.isEmpty || weightingForm != .exact else { return .adapted(result) }
        return .adapted(
            LoftQ.measuringActivationError(result, weight: weight, shape: shape, options: options, weighting: exact))
    }

    /// Every matrix's start, in model order, read from `source` one matrix at a time. With a
    /// `group` of N ranks each rank computes its share and the results are exchanged; `onMatrix`
    /// sees each (index, start) as it is done in one process, once gathered over MPI. Errors
    /// name the source and the tensor.
    func startAll(
        source: CheckpointSource, group: ProcessGroup,
        onMatrix: (Int, Timed) -> Void = { _, _ in }
    ) throws -> [Timed] {
        let shapes = source.config
        var mine: [Int: Timed] = [:]
        for (index, (layer, module)) in matrices.enumerated() where group.owns(index) {
            let began = Stopwatch.now()
            let tensor = LlamaTensor.linear(layer: layer, module)
            let weight = try source.finiteFloats(tensor)
            do {
                let start = try self.start(
                    layer: layer, module: module, weight: weight, shape: module.shape(in: shapes))
                mine[index] = Timed(start: start, seconds: Stopwatch.now() - began)
            } catch {
                let name = "\(source.sourceDescription): \(source.name(of: tensor))"
                throw RecipeError.invalidOption(name: name, detail: "\(error)")
            }
            if group.size == 1, let done = mine[index] { onMatrix(index, done) }
        }
        guard group.size > 1 else { return matrices.indices.compactMap { mine[$0] } }
        let bytes = mine.mapValues { timed -> [UInt8] in
            var writer = ByteWriter()
            writer.write(timed)
            return writer.bytes
        }
        return try group.exchange(bytes, count: matrices.count).enumerated().map { index, bytes in
            var reader = ByteReader(bytes: bytes)
            let timed = try reader.readTimed()
            onMatrix(index, timed)
            return timed
        }
    }
}

extension LoRAInitialization {
    /// The start of one linear (`layer`, `module`) — its quantized base and adapter — with its
    /// random stream split from `root` by the initialization and the module path.
    func start(
        weight: [Float], shape: [Int], options: LoftQ.Options, weighting: ActivationWeighting? = nil, layer: Int,
        module: LinearModule, root: RandomState
    ) throws -> LoftQ.Result {
        var rng = root.split(rawValue).split(HuggingFaceNames.modulePath(layer: layer, module))
        return try run(weight: weight, shape: shape, options: options, weighting: weighting, rng: &rng)
    }
}

/// One (layer, input) weighting, kept for the next matrix that reads the same input.
final class WeightingCache: @unchecked Sendable {
    private var key: String? = nil
    private var value: ActivationWeighting? = nil

    /// The weighting of `key`: the kept one when it is the same, else `make`'s (then kept).
    func weighting(for key: String, make: () throws -> ActivationWeighting?) rethrows -> ActivationWeighting? {
        if key == self.key { return value }
        let made = try make()
        (self.key, value) = (key, made)
        return made
    }
}
