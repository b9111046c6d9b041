import Autograd
import XCTest
import _TestSupport

final class BLASCoreChoiceTests: LoftTestCase {
    let avx512 = CPUFeatures(
        avx2: true, fma: true, avx512f: true, avx512bw: true, avx512dq: true,
        avx512vl: true)
    let avx2 = CPUFeatures(avx2: true, fma: true)

    func testGenericFallbackOnAVX512CPUSwitchesToSkylakeX() {
        XCTAssertEqual(
            BLASCoreChoice.decide(features: avx512, currentCore: "Prescott", environment: [:]),
            .use(core: "SKYLAKEX"))
    }

    func testGenericFallbackOnAVX2CPUSwitchesToHaswell() {
        XCTAssertEqual(
            BLASCoreChoice.decide(features: avx2, currentCore: "Prescott", environment: [:]),
            .use(core: "HASWELL"))
        XCTAssertEqual(
            BLASCoreChoice.decide(features: avx2, currentCore: "Sandybridge", environment: [:]),
            .use(core: "HASWELL"))
    }

    func testPartialAVX512IsTreatedAsAVX2() {
        var features = avx512
        features.avx512vl = false
        XCTAssertEqual(
            BLASCoreChoice.decide(features: features, currentCore: "Prescott", environment: [:]),
            .use(core: "HASWELL"))
    }

    func testUserValueIsNeverOverridden() {
        let env = ["OPENBLAS_CORETYPE": "Prescott"]
        guard case .keep = BLASCoreChoice.decide(features: avx512, currentCore: "Prescott", environment: env) else {
            return XCTFail("a user-set OPENBLAS_CORETYPE must be kept")
        }
    }

    func testKeepSwitchTurnsTheMechanismOff() {
        let env = ["LOFT_BLAS_CORE": "keep"]
        guard case .keep = BLASCoreChoice.decide(features: avx512, currentCore: "Prescott", environment: env) else {
            return XCTFail("LOFT_BLAS_CORE=keep must disable switching")
        }
    }

    func testModernKernelsOpenBLASPickedAreKept() {
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] {
            guard case .keep = BLASCoreChoice.decide(features: avx512, currentCore: core, environment: [:]) else {
                return XCTFail("\(core) must be kept")
            }
        }
    }

    func testOldCPUWithoutAVX2KeepsGenericKernel() {
        guard case .keep = BLASCoreChoice.decide(features: CPUFeatures(), currentCore: "Prescott", environment: [:])
        else {
            return XCTFail("no AVX2: nothing better to pick")
        }
    }

    func testEmptyVariableCountsAsUnset() {
        XCTAssertEqual(
            BLASCoreChoice.decide(
                features: avx512, currentCore: "Prescott",
                environment: ["OPENBLAS_CORETYPE": ""]),
            .use(core: "SKYLAKEX"))
    }
}
