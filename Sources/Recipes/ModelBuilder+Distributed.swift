import Autograd
import Distributed
import Formats
import Llama
import LoRA
import Quantization
import Training

extension ModelBuilder {
    /// The quantized start of every linear, computed once over the ranks: matrix i (in model
    /// order) by rank i mod N, then each result broadcast from the rank that made it. Every rank
    /// ends with the same bits as a single process computing them all.
    static func sharedStart(_ config: RunConfig, source: CheckpointSource, group: ProcessGroup) throws -> [String: QuantizedStart] {
        let c = source.config
        let root = RandomState(seed: config.training.seed)
        let matrices = (0..<c.layers).flatMap { layer in LinearModule.allCases.map { (layer, $0) } }
        var mine: [Int: [UInt8]] = [:]
        for (index, (layer, module)) in matrices.enumerated() where group.owns(index) {
            let weight = try source.floats(.linear(layer: layer, module))
            let start = try quantizedStart(config, layer: layer, module: module, weight: weight, shape: module.shape(in: c),
                                           layers: c.layers, root: root)
            var writer = ByteWriter()
            writer.write(start)
            mine[index] = writer.bytes
        }
        var result: [String: QuantizedStart] = [:]
        for (bytes, (layer, module)) in zip(try group.exchange(mine, count: matrices.count), matrices) {
            var reader = ByteReader(bytes: bytes)
            result[HuggingFaceNames.modulePath(layer: layer, module)] = try reader.readStart()
        }
        return result
    }
}

/// Little-endian bytes of a quantized start (to send it between ranks; never stored).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func int(_ value: Int) { withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 } }
    mutating func double(_ value: Double) { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
    mutating func raw(_ data: [UInt8]) { int(data.count); bytes += data }
    mutating func floats(_ values: [Float]) { int(values.count); values.withUnsafeBytes { bytes += $0 } }

    mutating func write(_ tensor: QuantizedTensor) {
        int(tensor.shape.count)
        tensor.shape.forEach { int($0) }
        raw(Array(tensor.codebook.name.utf8))
        int(tensor.blockSize)
        int(tensor.codes.bits)
        int(tensor.codes.count)
        raw(tensor.codes.bytes)
        switch tensor.scales {
        case .plain(let absmax):
            int(0)
            floats(absmax)
        case .doubleQuantized(let scales):
            int(1)
            raw(scales.codes)
            floats(scales.absmax)
            floats([scales.offset])
        }
    }

    mutating func write(_ start: ModelBuilder.QuantizedStart) {
        switch start {
        case .frozen(let tensor):
            int(0)
            write(tensor)
        case .adapted(let result):
            int(1)
            write(result.quantized)
            floats(result.a)
            floats(result.b)
            double(result.plainError)
            int(result.errors.count)
            result.errors.forEach { double($0) }
            int(result.bestIteration)
        }
    }
}

/// Reads what `ByteWriter` wrote.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw DistributedError.mpi(call: "decoding a broadcast start", code: -1) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }
    mutating func int() throws -> Int { Int(Int64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })) }
    mutating func double() throws -> Double {
        Double(bitPattern: UInt64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
    }
    mutating func raw() throws -> [UInt8] { Array(try take(try int())) }
    mutating func floats() throws -> [Float] {
        let count = try int()
        return try take(count * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    mutating func readTensor() throws -> QuantizedTensor {
        let shape = try (0..<int()).map { _ in try int() }
        guard let codebook = Codebook.named(String(decoding: try raw(), as: UTF8.self)) else {
            throw DistributedError.mpi(call: "decoding a broadcast codebook", code: -1)
        }
        let blockSize = try int(), bits = try int(), count = try int()
        let codes = PackedCodes(bytes: try raw(), bits: bits, count: count)
        let scales: BlockScales = try int() == 0
            ? .plain(try floats())
            : .doubleQuantized(DoubleQuantizedScales(codes: try raw(), absmax: try floats(), offset: try floats().first ?? 0))
        return QuantizedTensor(shape: shape, codebook: codebook, blockSize: blockSize, codes: codes, scales: scales)
    }

    mutating func readStart() throws -> ModelBuilder.QuantizedStart {
        if try int() == 0 { return .frozen(try readTensor()) }
        let quantized = try readTensor(), a = try floats(), b = try floats(), plainError = try double()
        let errors = try (0..<int()).map { _ in try double() }
        return .adapted(LoftQ.Result(quantized: quantized, a: a, b: b, plainError: plainError, errors: errors, bestIteration: try int()))
    }
}

extension LoftQuantizer {
    /// Every matrix's result on every rank: each broadcast from the rank that computed it (i mod N).
    static func gather(_ computed: [Int: (result: LoftQ.Result, seconds: Double)], count: Int,
                       group: ProcessGroup) throws -> [Int: (result: LoftQ.Result, seconds: Double)] {
        let mine = computed.mapValues { own -> [UInt8] in
            var writer = ByteWriter()
            writer.write(.adapted(own.result))
            writer.double(own.seconds)
            return writer.bytes
        }
        var all: [Int: (result: LoftQ.Result, seconds: Double)] = [:]
        for (index, bytes) in try group.exchange(mine, count: count).enumerated() {
            var reader = ByteReader(bytes: bytes)
            guard case .adapted(let result) = try reader.readStart() else { preconditionFailure("a LoftQ result was expected") }
            all[index] = (result, try reader.double())
        }
        return all
    }
}
