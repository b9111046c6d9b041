import CKernels

// MARK: - Float arrays kept as bf16 (round to nearest even): half the memory of a saved
// activation in bf16 training, as PyTorch's autocast keeps its linear outputs.

/// A copy of Float values rounded to bf16 (the high 16 bits of the nearest bf16 float; NaN stays
/// NaN), expanded back exactly to those rounded floats.
struct BF16Values {
    /// The bf16 bit patterns, two to a Float of a buffer from the `StepArena`.
    private let words: FloatBuffer
    /// The number of values.
    let count: Int

    /// Rounds `values` to bf16 as the bf16 products round their inputs (ties to even), on both cores.
    init(_ values: UnsafeBufferPointer<Float>) {
        let n = values.count
        (count, words) = (n, FloatBuffer(uninitialized: (n + 1) / 2))
        words.baseAddress.withMemoryRebound(to: UInt16.self, capacity: n) { bits in
            let outP = SendablePointer(bits)
            Parallel.forEach(n, costPerItem: 4) { range in
                loft_bf16_round_bits(
                    values.baseAddress! + range.lowerBound, outP.pointer + range.lowerBound, Int64(range.count))
            }
        }
    }

    /// The rounded values as Float.
    func expanded() -> FloatBuffer {
        uninitializedFloats(count) { out in
            let outP = SendablePointer(out.baseAddress!)
            words.baseAddress.withMemoryRebound(to: UInt16.self, capacity: count) { bits in
                let source = SendablePointer(bits)
                Parallel.forEach(count, costPerItem: 2) { range in
                    for i in range { outP.pointer[i] = Float(bitPattern: UInt32(source.pointer[i]) << 16) }
                }
            }
        }
    }
}
