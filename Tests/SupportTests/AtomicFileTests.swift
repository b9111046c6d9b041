import Foundation
import Support
import XCTest
import _TestSupport

/// Atomic writes: the old file survives a failed write, and failures are said in plain words.
final class AtomicFileTests: LoftTestCase {
    func testFailedWriteLeavesTheOldFileAndNamesTheReason() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let url = root.appendingPathComponent("state.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        struct Interrupted: Error {}
        XCTAssertThrowsError(
            try AtomicFile.write(to: url) { emit in
                try Data("partial".utf8).withUnsafeBytes(emit)
                throw Interrupted()
            })
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old", "a failed write keeps the previous file")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: root.path), ["state.json"],
            "and leaves no temporary file")

        let missing = root.appendingPathComponent("no-such-folder/x.json")
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: missing)) {
            XCTAssertEqual("\($0)", "cannot write \(missing.path): the folder does not exist")
        }
    }

    func testReasonsInPlainWords() {
        XCTAssertTrue(FileError.reason(errno: ENOSPC).hasPrefix("the disk is full"))
        XCTAssertTrue(FileError.reason(errno: EACCES).hasPrefix("permission denied"))
        XCTAssertEqual(FileError.reason(errno: EROFS), "the file system is read-only")
        XCTAssertEqual(FileError.reason(errno: EDQUOT), "the disk quota is used up")
    }
}
