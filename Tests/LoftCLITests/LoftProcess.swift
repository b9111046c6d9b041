import Foundation

/// The `loft` binary built next to this test bundle (`swift test` builds every product).
var loftURL: URL {
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
    process.executableURL = loftURL
    process.arguments = arguments
    let (out, err) = (Pipe(), Pipe())
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
        process.terminationStatus, String(decoding: outData, as: UTF8.self),
        String(decoding: errData, as: UTF8.self)
    )
}
