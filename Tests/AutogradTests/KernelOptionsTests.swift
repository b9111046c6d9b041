import Autograd
import Foundation
import XCTest
import _TestSupport

/// The kernel options: parsed from an environment given as a value, applied to the process, and
/// undone by applying the process's own options again.
final class KernelOptionsTests: LoftTestCase {
    func testParseReadsOnlyTheGivenEnvironment() {
        XCTAssertEqual(KernelOptions.parse(environment: [:]), KernelOptions())
        let options = KernelOptions.parse(environment: [
            "LOFT_SIMD": "avx2", "LOFT_BF16": "off", "LOFT_NUM_THREADS": "3",
            "LOFT_POOL": "dispatch",
        ])
        XCTAssertEqual(options, KernelOptions(simdLimit: .avx2, bf16Kernel: false, workers: 3, dispatchPool: true))
        // Values it does not know are ignored; a thread count is bounded.
        let odd = KernelOptions.parse(environment: ["LOFT_SIMD": "sse9", "LOFT_BF16": "no", "LOFT_NUM_THREADS": "0"])
        XCTAssertEqual(odd, KernelOptions())
        XCTAssertEqual(KernelOptions.parse(environment: ["LOFT_NUM_THREADS": "99999"]).workers, 1024)
    }

    func testApplyCapsThePathTheBF16KernelAndTheWorkers() {
        defer { KernelOptions.apply(.parse(environment: ProcessInfo.processInfo.environment)) }
        KernelOptions.apply(KernelOptions(simdLimit: .scalar, bf16Kernel: true, workers: 1))
        XCTAssertEqual(SIMDPath.active, .scalar)
        XCTAssertFalse(BLAS.bf16KernelAvailable, "the bf16 kernel needs the avx512 path")
        XCTAssertEqual(Parallel.workerCount, 1)
        KernelOptions.apply(KernelOptions())
        XCTAssertEqual(SIMDPath.active, SIMDPath.supported.last, "no limit: the best path the CPU has")
        XCTAssertEqual(Parallel.workerCount, Parallel.availableCPUs)
        if SIMDPath.avx512.isSupported {
            KernelOptions.apply(KernelOptions(bf16Kernel: false))
            XCTAssertFalse(BLAS.bf16KernelAvailable)
        }
    }
}
