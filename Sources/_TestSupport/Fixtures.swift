import Foundation
import XCTest

/// Paths to the real data and reference values the tests read (never copied into the repo).
public enum Fixtures {
    /// The package root (two levels above this file's folder).
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/data/<relative>` beside the package, else `data/<relative>` (linked by setup).
    public static func data(_ relative: String) throws -> String {
        try firstExisting([
            packageRoot.appendingPathComponent("../shared/data/\(relative)"),
            packageRoot.appendingPathComponent("data/\(relative)"),
        ])
    }

    /// `../shared/golden/<relative>` beside the package.
    public static func golden(_ relative: String) throws -> String {
        try firstExisting([packageRoot.appendingPathComponent("../shared/golden/\(relative)")])
    }

    /// `Tests/Resources/<relative>`: small references checked in with the tests (each made by a
    /// script under `scripts/references/`).
    public static func resource(_ relative: String) throws -> String {
        try firstExisting([packageRoot.appendingPathComponent("Tests/Resources/\(relative)")])
    }

    /// A fresh empty temporary folder, removed when the test ends.
    public static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("loft-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The parsed JSON object at `path`.
    public static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError.missing("\(path) is not a JSON object")
        }
        return object
    }

    private static func firstExisting(_ candidates: [URL]) throws -> String {
        for url in candidates where FileManager.default.fileExists(atPath: url.standardized.path) {
            return url.standardized.path
        }
        throw FixtureError.missing(candidates.map { $0.standardized.path }.joined(separator: " or "))
    }
}

/// A test input that is not where the tests expect it: a failure, never a skip.
public enum FixtureError: Error, CustomStringConvertible {
    /// Nothing at any of the named paths.
    case missing(String)
    public var description: String {
        switch self {
        case .missing(let what): return "test fixture missing: \(what)"
        }
    }
}
