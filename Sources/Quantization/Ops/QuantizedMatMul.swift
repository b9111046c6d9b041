import Autograd
import Support

// MARK: - The frozen quantized linear product: forward y = x·deq(W)ᵀ, backward dx = dy·deq(W).
// No weight gradient exists. The fp32 weight is never materialised whole: tiles of rows are
// dequantized into one buffer (reused across steps through the step arena) and each tile goes
// through sgemm.

extension QuantizedTensor {
    /// Rows per dequantized tile: at most 4M floats (16 MB), so a large fp32 weight never exists
    /// whole (a 4096×11008 one is 180 MB); a matrix that fits is one tile, one sgemm, so the
    /// activations are packed once. Tall tiles keep sgemm efficient (measured on a 4096×11008
    /// model at 512 tokens: 128K-float tiles 6.67 s per training step, 1M 5.33 s, 4M 5.08 s).
    var tileRows: Int { max(1, min(shape[0], 4_194_304 / max(1, shape[1]))) }

    /// Calls `body` with each tile of rows dequantized: (row range, [rows, in] values).
    func forEachTile(_ body: (Range<Int>, UnsafePointer<Float>) -> Void) {
        let (rows, columns, step) = (shape[0], shape[1], tileRows)
        let tile = FloatBuffer(uninitialized: step * columns)  // from the step arena: the same every step
        defer { withExtendedLifetime(tile) {} }
        let tileP = SendablePointer(tile.baseAddress)
        for start in stride(from: 0, to: rows, by: step) {
            let end = min(rows, start + step)
            Parallel.forEach(end - start, costPerItem: 4 * columns) { local in
                dequantize(
                    ((start + local.lowerBound) * columns)..<((start + local.upperBound) * columns),
                    into: tileP.pointer + local.lowerBound * columns)
            }
            body(start..<end, UnsafePointer(tile.baseAddress))
        }
    }

    /// Whether `x·deq(W)ᵀ` for `rows` rows of x goes through the packed-code kernel (decoding:
    /// 1…16 rows, rows of W made of whole blocks of a multiple of 16, 4- or 2-bit codes).
    public func usesDirectKernel(rows: Int) -> Bool {
        shape.count == 2 && (1...Self.directKernelMaxRows).contains(rows) && [2, 4].contains(codebook.bits)
            && blockSize % 16 == 0 && shape[1] % blockSize == 0
    }

    /// Rows of x up to which the packed-code kernel beats dequantize + sgemm (it reads W once per
    /// call as sgemm does, but writes no fp32 tile).
    public static let directKernelMaxRows = 16

    /// `y = x·deq(W)ᵀ` for `x` [rows, in] into `y` [rows, out] with the packed-code kernel on
    /// `path` (nil: the active one), both cores over the output rows. False, writing nothing, when
    /// the kernel does not take this shape or the CPU lacks `path`.
    @discardableResult
    public func multiplyDirect(
        _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>, path: SIMDPath? = nil
    ) -> Bool {
        let path = path ?? .active
        guard usesDirectKernel(rows: m), path.isSupported else { return false }
        let (xP, yP) = (SendablePointer(UnsafeMutablePointer(mutating: x)), SendablePointer(y))
        // About a nanosecond per 8 weight·row products: small matrices (k, v of a small model) stay on
        // one core, where waking the other would cost more than it saves.
        Parallel.forEach(shape[0], costPerItem: max(1, shape[1] * m / 8)) { outputs in
            multiplyRows(xP.pointer, rows: m, outputs: outputs, into: yP.pointer, path: path)
        }
        return true
    }

    /// Columns `outputs` of `y = x·deq(W)ᵀ` (x [rows, in], y [rows, out]) on this thread with the
    /// packed-code kernel on `path` (nil: the active one): what one core does of a decoding product (callers split the
    /// output rows across cores; different ranges may run at once). False, writing nothing, as
    /// `multiplyDirect`. Double-quantized scales are expanded for these rows only.
    @discardableResult
    public func multiplyRows(
        _ x: UnsafePointer<Float>, rows m: Int, outputs: Range<Int>, into y: UnsafeMutablePointer<Float>,
        path: SIMDPath? = nil
    ) -> Bool {
        let path = path ?? .active
        guard usesDirectKernel(rows: m), path.isSupported, outputs.lowerBound >= 0, outputs.upperBound <= shape[0]
        else { return false }
        if outputs.isEmpty { return true }
        let (outFeatures, inFeatures) = (shape[0], shape[1])
        let blocks = (outputs.lowerBound * inFeatures / blockSize)..<(outputs.upperBound * inFeatures / blockSize)
        let firstByte = outputs.lowerBound * inFeatures * codebook.bits / 8  // rows hold whole blocks of 16·k codes
        func run(_ scale: UnsafePointer<Float>) {
            codebook.levels.withUnsafeBufferPointer { levels in
                codes.bytes.withUnsafeBufferPointer { bytes in
                    _ = DequantizationKernel.gemv(
                        path: path, codes: bytes.baseAddress! + firstByte, bits: codebook.bits,
                        levels: levels.baseAddress!, absmax: scale, blockSize: blockSize,
                        inFeatures: inFeatures, rows: 0..<outputs.count, x: x, batch: m,
                        y: y + outputs.lowerBound, ldy: outFeatures)
                }
            }
        }
        switch scales {
        case .plain(let values): values.withUnsafeBufferPointer { run($0.baseAddress! + blocks.lowerBound) }
        case .doubleQuantized: scales.absmax(blocks: blocks).withUnsafeBufferPointer { run($0.baseAddress!) }
        }
        return true
    }

    /// `y = x·deq(W)ᵀ` for `x` [rows, in] into `y` [rows, out], no tape: the packed-code kernel
    /// for a few rows (decoding), else tiles of W dequantized and multiplied by sgemm in `compute`.
    public func multiply(
        _ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>,
        compute: ComputeType = .fp32
    ) {
        precondition(shape.count == 2, "quantized matmul: weight must be [out, in], got \(shape)")
        if multiplyDirect(x, rows: m, into: y) { return }
        let (outFeatures, inFeatures) = (shape[0], shape[1])
        forEachTile { range, tile in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: m, n: range.count, k: inFeatures,
                a: x, lda: inFeatures, b: tile, ldb: inFeatures, c: y + range.lowerBound, ldc: outFeatures,
                compute: compute)
        }
    }

    /// `dx += dy·deq(W)` for `dy` [rows, out] into `dx` [rows, in], the products in `compute`.
    public func multiplyTransposed(
        accumulating dy: UnsafePointer<Float>, rows m: Int, into dx: UnsafeMutablePointer<Float>,
        compute: ComputeType = .fp32
    ) {
        let (outFeatures, inFeatures) = (shape[0], shape[1])
        forEachTile { range, tile in
            BLAS.sgemm(
                transposeA: false, transposeB: false, m: m, n: inFeatures, k: range.count,
                a: dy + range.lowerBound, lda: outFeatures, b: tile, ldb: inFeatures,
                beta: 1, c: dx, ldc: inFeatures, compute: compute)
        }
    }
}

extension Tensor {
    /// `self · deq(weight)ᵀ`: [..., in] with a quantized weight [out, in] → [..., out].
    /// The backward sends `dy·deq(W)` to `self` and nothing else; both products run in `compute`.
    public func matmul(quantized weight: QuantizedTensor, compute: ComputeType = .fp32) -> Tensor {
        precondition(
            weight.shape.count == 2 && shape.last == weight.shape[1],
            "quantized matmul: x \(shape) × Wᵀ with W \(weight.shape)")
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        let rows = count / inFeatures
        let y = FloatBuffer(zeros: rows * outFeatures)
        withValues { x in
            y.withUnsafeMutableBufferPointer {
                weight.multiply(x.baseAddress!, rows: rows, into: $0.baseAddress!, compute: compute)
            }
        }
        return Tape.record("quantizedMatmul", data: y, shape: Array(shape.dropLast()) + [outFeatures], inputs: [self]) {
            dy, inputs, _ in
            inputs[0].accumulateGrad { dx in
                weight.multiplyTransposed(
                    accumulating: dy.baseAddress!, rows: rows, into: dx.baseAddress!, compute: compute)
            }
        }
    }
}
