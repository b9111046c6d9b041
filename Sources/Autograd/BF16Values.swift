import CKernels

// MARK: - Float arrays kept as bf16 (round to nearest even): half the memory of a saved
// activation in bf16 training, as PyTorch's autocast keeps its linear outputs.

/// A copy of Float values rounded to bf16 (the high 16 bits of the nearest bf16 float; NaN stays
/// NaN), expanded back exactly to those rounded floats.
struct BF16Values: Sendable {
    /// The bf16 bit patterns.
    let bits: [UInt16]

    /// Rounds `values` to bf16 as the bf16 products round their inputs (ties to even), on both cores.
    init(_ values: UnsafeBufferPointer<Float>) {
        let n = values.count
        bits = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            let outP = SendablePointer(out.baseAddress!)
            Parallel.forEach(n, costPerItem: 4) { range in
                loft_bf16_round_bits(values.baseAddress! + range.lowerBound, outP.pointer + range.lowerBound, Int64(range.count))
            }
            initialized = n
        }
    }

    /// The rounded values as Float.
    func expanded() -> [Float] {
        [Float](unsafeUninitializedCapacity: bits.count) { out, initialized in
            let outP = SendablePointer(out.baseAddress!)
            bits.withUnsafeBufferPointer { source in
                Parallel.forEach(source.count, costPerItem: 2) { range in
                    for i in range { outP.pointer[i] = Float(bitPattern: UInt32(source[i]) << 16) }
                }
            }
            initialized = bits.count
        }
    }
}
