import Foundation
import XCTest
import _TestSupport

/// `loft fuzz`'s budgets: `--cases-for TARGET=N` overrides `--cases` for that target, and a
/// malformed or unknown one is refused by name before anything runs.
final class FuzzCLITests: LoftTestCase {
    func testCasesForSetsOneTargetsBudget() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let data = URL(fileURLWithPath: try Fixtures.data("models/stories260K/stories260K.bin"))
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let (status, out, err) = try runLoft([
            "fuzz", "--target", "hf-config", "--target", "llama2c", "--cases", "2",
            "--cases-for", "hf-config=5", "--data", data, "--work", root.path,
        ])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(out.contains("| hf-config | 5 |"), out)
        XCTAssertTrue(out.contains("| llama2c | 2 |"), out)
        for (value, named) in [
            ("nope=3", "unknown fuzz target 'nope'"), ("yaml=x", "--cases-for 'yaml=x'"),
            ("yaml", "--cases-for 'yaml'"),
        ] {
            let (status, _, err) = try runLoft(["fuzz", "--cases-for", value, "--work", root.path])
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(err.contains(named), err)
        }
    }
}
