import Autograd
import Foundation
import Fuzzing
import XCTest
import _TestSupport

/// The fuzzer's own parts: the mutator is a function of its seed, the runner tells a crash, a hang
/// and an exit apart, and the classifier holds error messages to the contract.
final class FuzzingTests: LoftTestCase {
    let sample = Array(#"{"dim": 64, "name": "stories", "layers": [1, 2, 3]}"#.utf8)

    func testMutationsAreAFunctionOfTheSeedAlone() {
        for kind in [MutationKind.binary, .text, .safetensors] {
            var outputs: [[UInt8]] = []
            for index in 0..<50 {
                var first = Mutator(rng: RandomState(seed: 9).split("case \(index)"))
                var second = Mutator(rng: RandomState(seed: 9).split("case \(index)"))
                let a = first.mutate(sample, kind: kind), b = second.mutate(sample, kind: kind)
                XCTAssertEqual(a, b, "\(kind) case \(index)")
                outputs.append(a)
            }
            XCTAssertGreaterThan(Set(outputs.map { Data($0) }).count, 40, "\(kind): cases differ from one another")
            XCTAssertLessThan(
                outputs.filter { $0 == sample }.count, 5, "\(kind): a case almost always changes the input")
        }
    }

    /// A header-as-text edit keeps the 8-byte length prefix equal to the new header's length, so
    /// the edit reaches the JSON parser instead of failing at the length check.
    func testSafetensorsHeaderEditsKeepTheLengthPrefixConsistent() {
        let header = Array(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        let file =
            (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) } + header
            + [UInt8](repeating: 7, count: 8)
        var consistent = 0
        for index in 0..<200 {
            var mutator = Mutator(rng: RandomState(seed: 3).split("\(index)"))
            let out = mutator.mutateSafeTensors(file)
            guard out.count >= 8 else { continue }
            let length = (0..<8).reduce(0) { $0 | Int(out[$1]) << (8 * $1) }
            if length >= 0, 8 + length + 8 == out.count, Array(out.suffix(8)) == [UInt8](repeating: 7, count: 8) {
                consistent += 1
            }
        }
        XCTAssertGreaterThan(
            consistent, 80, "about two thirds of the edits are header text edits with a consistent prefix")
    }

    func testRunnerTellsExitsCrashesAndHangsApart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loft-fork-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var seen: [Int: (ChildStatus, String)] = [:]
        let runner = ForkRunner(width: 2, timeout: 1, memoryLimit: 1 << 33, folder: folder)
        try runner.run(
            cases: 0..<4, prepare: { _, _ in },
            child: { index, _ in
                switch index {
                case 0:
                    fputs("Error: /x/y.json: not valid JSON at line 2, column 3: invalid value\n", stderr)
                    return 1
                case 1: signal(SIGSEGV, SIG_DFL); raise(SIGSEGV); return 0  // XCTest's own handler would exit
                case 2: sleep(30); return 0
                default: return 0
                }
            }, finished: { index, _, status, text, _ in seen[index] = (status, text) })
        XCTAssertEqual(seen[0]?.0, .exited(1))
        XCTAssertEqual(seen[1]?.0, .signaled(SIGSEGV))
        XCTAssertEqual(seen[2]?.0, .timedOut)
        XCTAssertEqual(seen[3]?.0, .exited(0))
        XCTAssertEqual(FuzzOutcome.classify(.exited(1), stderr: seen[0]?.1 ?? "", names: ["/x/y.json"]), .cleanError)
    }

    func testClassifierHoldsErrorsToOneLineThatNamesTheFile() {
        let names = ["/runs/slot-0/hf/config.json", "/runs/slot-0/hf"]
        XCTAssertEqual(FuzzOutcome.classify(.exited(0), stderr: "", names: names), .success)
        XCTAssertEqual(FuzzOutcome.classify(.timedOut, stderr: "", names: names), .hang)
        XCTAssertEqual(FuzzOutcome.classify(.signaled(4), stderr: "", names: names), .crash(signal: 4))
        XCTAssertEqual(
            FuzzOutcome.classify(
                .exited(1), stderr: "Error: /runs/slot-0/hf/config.json: key 'x' missing\n", names: names),
            .cleanError)
        for unclean in [
            "", "Error: key 'x' missing", "Error: /runs/slot-0/hf/config.json: a\nb\nc",
            "Error: /runs/slot-0/hf/config.json: DecodingError.dataCorrupted(...)",
            "Error: /runs/slot-0/hf/config.json: Error Domain=NSCocoaErrorDomain Code=640",
        ] {
            guard case .uncleanError = FuzzOutcome.classify(.exited(1), stderr: unclean, names: names) else {
                return XCTFail("'\(unclean)' passed as clean")
            }
        }
    }
}
