import Foundation
import XCTest

/// Runs the built `loft` executable and checks what a user sees.
final class CLITests: XCTestCase {
    /// The `loft` binary built next to this test bundle (`swift test` builds every product).
    static var loftURL: URL {
        let products = Bundle.main.bundleURL.deletingLastPathComponent()
        for dir in [products, Bundle.main.bundleURL] {
            let candidate = dir.appendingPathComponent("loft")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return products.appendingPathComponent("loft")
    }

    /// Runs loft with `arguments`; returns (exit status, stdout, stderr).
    func runLoft(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = Self.loftURL
        process.arguments = arguments
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self),
                String(decoding: errData, as: UTF8.self))
    }

    func testBinaryExists() {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.loftURL.path),
                      "no loft binary at \(Self.loftURL.path)")
    }

    func testHelpListsSubcommands() throws {
        let (status, out, _) = try runLoft(["--help"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(out.contains("USAGE: loft <subcommand>"), out)
        XCTAssertTrue(out.contains("bench"), out)
    }

    func testVersionNamesBLASCore() throws {
        let (status, out, _) = try runLoft(["--version"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(out.hasPrefix("loft 0."), out)
        XCTAssertTrue(out.contains("core "), out)
    }

    func testUnknownOptionFailsWithMessage() throws {
        let (status, _, err) = try runLoft(["bench", "gemm", "--runs", "0"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("--runs must be at least 1"), err)
    }
}
