import Autograd
import Quantization
import XCTest
import _TestSupport

final class CodebookTests: LoftTestCase {
    func testCodebooksBitExactWithPEFT() throws {
        let golden = try GoldenTensors(path: Fixtures.golden("loftq/codebooks.safetensors"))
        XCTAssertEqual(Codebook.nf4.levels.map(\.bitPattern), golden["nf4"].map(\.bitPattern))
        XCTAssertEqual(Codebook.nf2.levels.map(\.bitPattern), golden["nf2"].map(\.bitPattern))
    }

    func testUniformAndDynamicCodebooks() {
        XCTAssertEqual(Codebook.uniform(bits: 2).levels, [-1, 0, 1])
        XCTAssertEqual(Codebook.uniform(bits: 4).levels.count, 15)
        XCTAssertEqual(Codebook.uniform(bits: 8).levels.count, 255)
        XCTAssertEqual(Codebook.dynamic8.levels.count, 256)
        // The outermost level is −10⁰ · (0.9859375 + 1) / 2, the mean of the last linspace(0.1, 1, 65) pair.
        XCTAssertEqual(Codebook.dynamic8.levels.first!, -0.99296875, accuracy: 1e-7)
        XCTAssertEqual(Codebook.dynamic8.levels.last, 1)
    }

    func testNearestTiesGoToTheLowerIndex() {
        let c = Codebook.nf2  // -1, 0, 0.3379, 1
        XCTAssertEqual(c.nearest(-0.5), 0)  // exactly between −1 and 0
        XCTAssertEqual(c.nearest(-0.49), 1)
        XCTAssertEqual(c.nearest(0.2), 2)
        XCTAssertEqual(c.nearest(5), 3)
        XCTAssertEqual(c.nearest(-5), 0)
        // Against a brute-force argmin (first index on ties) over many values.
        var rng = RandomState(seed: 3)
        for codebook in [Codebook.nf4, .nf2, .uniform(bits: 4), .uniform(bits: 8)] {
            for _ in 0..<20_000 {
                let v = rng.nextUniform() * 2.2 - 1.1
                let distances = codebook.levels.map { abs(v - $0) }
                XCTAssertEqual(
                    codebook.nearest(v), distances.firstIndex(of: distances.min()!)!, "\(codebook.name) \(v)")
            }
        }
    }

    func testPackUnpackRoundTripAndLayout() {
        var rng = RandomState(seed: 4)
        for bits in [2, 4, 8] {
            for count in [1, 7, 64, 333] {
                let codes = (0..<count).map { _ in UInt8(rng.next() % UInt64(1 << bits)) }
                let packed = PackedCodes(codes: codes, bits: bits)
                XCTAssertEqual(packed.unpacked, codes)
                XCTAssertEqual(packed.bytes.count, (count * bits + 7) / 8)
            }
        }
        XCTAssertEqual(PackedCodes(codes: [0xA, 0x3, 0xF], bits: 4).bytes, [0xA3, 0xF0])  // first in high nibble
        XCTAssertEqual(PackedCodes(codes: [1, 2, 3, 0, 2], bits: 2).bytes, [0b01_10_11_00, 0b10_00_00_00])
    }
}
