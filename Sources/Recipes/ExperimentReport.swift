import Foundation

/// The tables of an experiment in Markdown (`loft experiment --report`): one row per finished
/// cell, and the per-layer start error of the LoftQ cells against plain quantization.
public enum ExperimentReport {
    /// The results table, then one line per failed cell.
    public static func table(_ results: [CellResult], failures: [CellFailure]) -> String {
        table(results) + failures.map { "\n- \($0.cell): failed — \($0.error)" }.joined()
            + (failures.isEmpty ? "" : "\n")
    }

    /// The results table.
    public static func table(_ results: [CellResult]) -> String {
        let hasPerplexity = results.contains { $0.final.perplexity != nil }
        let hasGSM8K = results.contains { $0.final.gsm8kAccuracy != nil }
        var header = ["cell", "method", "bits", "rank / alpha"]
        if hasPerplexity { header += ["start ppl", "final ppl"] }
        if hasGSM8K { header += ["start GSM8K", "final GSM8K (± s.e.)"] }
        header += ["start error (plain q)", "steps", "last loss", "build + train", "eval"]
        var lines = [row(header), row(header.map { _ in "---" })]
        for r in results {
            var cells = [
                r.cell, r.method, r.bits.map { format($0, digits: 2) } ?? "16 (fp32)",
                "\(r.rank) / \(format(Double(r.alpha), digits: 0))",
            ]
            if hasPerplexity {
                cells += [
                    r.start.perplexity.map { format($0, digits: 2) } ?? "—",
                    r.final.perplexity.map { format($0, digits: 2) } ?? "—",
                ]
            }
            if hasGSM8K {
                let error = percent(r.final.gsm8kStandardError ?? 0)
                cells += [
                    r.start.gsm8kAccuracy.map { percent($0) } ?? "—",
                    r.final.gsm8kAccuracy.map { percent($0) + " ± " + error } ?? "—",
                ]
            }
            let error =
                r.start.initError.map { "\(format($0, digits: 4)) (\(format(r.start.plainError ?? 0, digits: 4)))" }
                ?? "—"
            cells += [
                error, "\(r.steps)", r.lastLoss.map { format(Double($0), digits: 3) } ?? "—",
                minutes(r.timing.buildSeconds + r.timing.trainSeconds), minutes(r.start.seconds + r.final.seconds),
            ]
            lines.append(row(cells))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per layer, the mean start error over the seven matrices of every LoftQ-family cell, with the
    /// plain quantization error of the first 4-bit and 2-bit cells beside them.
    public static func layerTable(_ results: [CellResult]) -> String {
        let loftq = results.filter { $0.method.hasPrefix("loftq") && !$0.start.matrixErrors.isEmpty }
        let plain = [4.0, 2.0].compactMap { bits in results.first { $0.bits == bits && !$0.start.matrixErrors.isEmpty }
        }
        guard !loftq.isEmpty else { return "" }
        let layers = (loftq + plain).flatMap { $0.start.matrixErrors.map(\.layer) }.max().map { $0 + 1 } ?? 0
        let header = ["layer"] + plain.map { "plain \(format($0.bits ?? 0, digits: 0))-bit" } + loftq.map(\.cell)
        var lines = [row(header), row(header.map { _ in "---" })]
        func mean(_ r: CellResult, _ layer: Int, _ value: (ModelBuilder.MatrixInitError) -> Double) -> String {
            let values = r.start.matrixErrors.filter { $0.layer == layer }.map(value)
            return values.isEmpty ? "—" : format(values.reduce(0, +) / Double(values.count), digits: 4)
        }
        for layer in 0..<layers {
            lines.append(
                row(
                    ["\(layer)"] + plain.map { mean($0, layer, \.plainError) }
                        + loftq.map { mean($0, layer, \.initError) }))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |" }
    static func format(_ value: Double, digits: Int) -> String { String(format: "%.\(digits)f", value) }
    static func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }
    static func minutes(_ seconds: Double) -> String { String(format: "%.1f min", seconds / 60) }
}
