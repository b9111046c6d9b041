import Distributed
import LoRA
import Quantization

/// Little-endian bytes of a matrix's start (to send it between ranks; never stored).
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

    mutating func write(_ timed: StartPlan.Timed) {
        double(timed.seconds)
        switch timed.start {
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
            double(result.activationPlainError ?? .nan)
            int(result.activationErrors.count)
            result.activationErrors.forEach { double($0) }
        }
    }
}

/// Reads what `ByteWriter` wrote.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else {
            throw DistributedError.mpi(call: "decoding a broadcast start", code: -1)
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }
    mutating func int() throws -> Int {
        Int(Int64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
    }
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
        let scales: BlockScales =
            try int() == 0
            ? .plain(try floats())
            : .doubleQuantized(
                DoubleQuantizedScales(codes: try raw(), absmax: try floats(), offset: try floats().first ?? 0))
        return QuantizedTensor(shape: shape, codebook: codebook, blockSize: blockSize, codes: codes, scales: scales)
    }

    mutating func readTimed() throws -> StartPlan.Timed {
        let seconds = try double()
        if try int() == 0 { return StartPlan.Timed(start: .frozen(try readTensor()), seconds: seconds) }
        let quantized = try readTensor(), a = try floats(), b = try floats(), plainError = try double()
        let errors = try (0..<int()).map { _ in try double() }
        let bestIteration = try int(), activationPlainError = try double()
        let activationErrors = try (0..<int()).map { _ in try double() }
        let result = LoftQ.Result(
            quantized: quantized, a: a, b: b, plainError: plainError, errors: errors, bestIteration: bestIteration,
            activationPlainError: activationPlainError.isNaN ? nil : activationPlainError,
            activationErrors: activationErrors)
        return StartPlan.Timed(start: .adapted(result), seconds: seconds)
    }
}
