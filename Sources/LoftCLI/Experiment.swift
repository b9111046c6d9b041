import Recipes
import ArgumentParser
import Foundation

/// `loft experiment`: runs a grid of training runs (skipping finished cells, resuming interrupted
/// ones) and prints its results table.
struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a grid of fine-tuning runs from an experiment YAML (finished cells are skipped, interrupted ones resume), then print its table."
    )

    @Option(help: "The experiment (YAML: name, base, set, evaluate, cells).")
    var config: String
    @Option(help: "Run only these cells (comma-separated names).")
    var only: String?
    @Option(help: "Where run folders go (cells in RUNS/NAME/CELL).")
    var runsDir = "runs"
    @Flag(help: "Do not train: print the table of the finished cells.")
    var reportOnly = false
    @Flag(help: "Run cells that failed before again (by default they are skipped).")
    var retryFailed = false
    @Option(help: "Also write the tables (Markdown) to this file.")
    var report: String?

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        let runner = try ExperimentRunner(file: config, runsRoot: URL(fileURLWithPath: runsDir))
        if !reportOnly {
            let progress = ProgressLine()
            InterruptFlag.install()
            let outcome = try runner.run(
                only: only.map { Set($0.split(separator: ",").map(String.init)) }, retryFailed: retryFailed,
                shouldStop: { InterruptFlag.signal != 0 }
            ) { event in
                // Between a cell's start and its first step, and in its final evaluation, there is
                // nothing to save: Ctrl-C then ends the process at once (finished files are atomic).
                switch event {
                case .cellStarted, .evaluating: InterruptFlag.exitsAtOnce = true
                case .training, .cellSkipped, .cellFinished, .cellFailed: InterruptFlag.exitsAtOnce = false
                }
                switch event {
                case .cellStarted(let cell, let index, let count, let resuming):
                    printError("cell \(index + 1)/\(count): \(cell)\(resuming ? " (resuming)" : "")")
                case .cellSkipped(let cell): printError("cell \(cell): finished (or failed) before, skipped")
                case .cellFailed(let cell, let error): printError("cell \(cell) failed: \(error)")
                case .training(_, let event): progress.show(event)
                case .evaluating(let cell, let phase, let what, let done, let total):
                    progress.note("\(cell) \(phase) \(what): \(done)/\(total)", final: done == total)
                case .cellFinished(let result):
                    var scores: [String] = []
                    if result.start.perplexity != nil || result.final.perplexity != nil {
                        scores.append(
                            "perplexity \(result.start.perplexity.map { String(format: "%.3f", $0) } ?? "-") → "
                                + "\(result.final.perplexity.map { String(format: "%.3f", $0) } ?? "-")")
                    }
                    if result.start.gsm8kAccuracy != nil || result.final.gsm8kAccuracy != nil {
                        let percent: (Double?) -> String = { $0.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
                        let error = result.final.gsm8kStandardError.map { String(format: " ± %.1f%%", 100 * $0) }
                        scores.append(
                            "GSM8K \(percent(result.start.gsm8kAccuracy)) → \(percent(result.final.gsm8kAccuracy))"
                                + (error ?? ""))
                    }
                    printError("cell \(result.cell): \(scores.isEmpty ? "no scores" : scores.joined(separator: ", "))")
                }
            }
            if case .interrupted(let cell) = outcome {
                printError("interrupted in \(cell): its checkpoint is saved; run the same command again to continue")
                throw ExitCode(128 + InterruptFlag.signal)
            }
        }
        let results = try runner.results()
        let text =
            ExperimentReport.table(results, failures: runner.failures()) + "\n" + ExperimentReport.layerTable(results)
        print(text, terminator: "")
        if let report { try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: report)) }
    }
}

/// `loft plot`: the picture of an experiment as SVG.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw an experiment (SVG): loss curves of chosen cells, final perplexity against bits per method.")

    @Option(help: "The experiment YAML.")
    var config: String
    @Option(help: "Where run folders are.")
    var runsDir = "runs"
    @Option(
        help: "Cells whose loss curves to draw (comma-separated; default: the grid's usual setting at 4 and 2 bits).")
    var curves: String?
    @Option(help: "The SVG file to write.")
    var out: String

    func run() throws {
        let runner = try ExperimentRunner(file: config, runsRoot: URL(fileURLWithPath: runsDir))
        let results = try runner.results()
        let chosen =
            curves.map { $0.split(separator: ",").map(String.init) }
            ?? results.filter {
                ($0.bits == 4 || $0.bits == 2) && ExperimentPlot.seriesLabel($0, in: results) == $0.method
            }.map(\.cell)
        // Colour by method, dashed below 3 bits, as in the perplexity panel.
        let series = try chosen.map { cell in
            let result = results.first { $0.cell == cell }
            return ExperimentPlot.Series(
                label: cell,
                points: try ExperimentPlot.lossCurve(runFolder: runner.directory.appendingPathComponent(cell)),
                dashed: (result?.bits ?? 16) < 3, color: result.map { ExperimentPlot.color(method: $0.method) })
        }
        let svg = ExperimentPlot.svg(
            title: "\(runner.experiment.name): \(results.count) cells", results: results, curves: series)
        try AtomicFile.write(Data(svg.utf8), to: URL(fileURLWithPath: out))
        printError("wrote \(out)")
    }
}
