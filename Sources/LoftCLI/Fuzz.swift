import ArgumentParser
import Foundation
import Fuzzing

/// `loft fuzz`: mutation fuzzing of every loader through loft's own commands (developer check).
struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Feed mutated models, tokenizers, configs, data, adapters and checkpoints to loft's commands; every case must end in success or a one-line error naming the file (no crash, no hang)."
    )

    @Option(name: .customLong("target"), help: "Fuzz only these targets (repeatable; default: all).")
    var targets: [String] = []
    @Option(help: "Mutated inputs per target.")
    var cases = 300
    @Option(
        name: .customLong("cases-for"),
        help: "Mutated inputs for one target, TARGET=N (repeatable; overrides --cases for it).")
    var casesFor: [String] = []
    @Option(help: "Replay only this case (its folder is kept under WORK/failures).")
    var `case`: Int?
    @Option(help: "The seed: case i of a target depends on (seed, target, i) alone.")
    var seed: UInt64 = 1
    @Option(
        help: "Seconds before a case counts as a hang (a case takes well under a second; slack for a busy machine).")
    var timeout = 60.0
    @Option(help: "Address-space limit of each case, GiB (an allocation beyond it is a crash).")
    var memoryGib = 4.0
    @Option(help: "Cases run at once.")
    var jobs = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Where the seeds (the stories260K model in every format) are made from.")
    var data = "data"
    @Option(help: "The chat template the chat-template target mutates (setup.sh unpacks llama.cpp's).")
    var chatTemplate = "data/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
    @Option(help: "Working folder: seeds, case folders, kept failures.")
    var work = "runs/fuzz"
    @Flag(help: "Print every failing case as it happens.")
    var verbose = false
    @Flag(help: "Print every error message, clean ones too (to read them).")
    var printErrors = false

    func run() throws {
        let campaign = try FuzzCampaign(
            work: URL(fileURLWithPath: work).standardizedFileURL, seed: seed, width: jobs, timeout: timeout,
            memoryLimit: Int(memoryGib * 1_073_741_824)
        ) { arguments in
            Loft.main(arguments)
            return 0
        }
        let sources = FuzzSeeds.Sources(
            model: absolute(data + "/models/stories260K/stories260K.bin"),
            tokenizer: absolute(data + "/models/stories260K/tok512.model"),
            gsm8k: absolute(data + "/gsm8k/test.jsonl"), text: absolute(data + "/wikitext-2-raw/wiki.valid.raw"),
            chatTemplate: absolute(chatTemplate))
        try campaign.buildSeeds(sources)
        let all = FuzzTarget.all(seeds: campaign.seedsRoot.path)
        if let unknown = targets.first(where: { name in !all.contains { $0.name == name } }) {
            throw ValidationError(
                "unknown fuzz target '\(unknown)' (targets: \(all.map(\.name).joined(separator: ", ")))")
        }
        let chosen = targets.isEmpty ? all : all.filter { targets.contains($0.name) }
        let budgets = try Self.budgets(casesFor, targets: all.map(\.name))
        func range(_ target: String) -> Range<Int> { `case`.map { $0..<($0 + 1) } ?? 0..<(budgets[target] ?? cases) }
        let perTarget =
            budgets.isEmpty || `case` != nil
            ? "\(range("").count) case(s) per target"
            : "\(cases) case(s) per target, "
                + budgets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("seed \(seed), \(perTarget), timeout \(timeout) s, \(memoryGib) GiB per case")
        print("| target | cases | success | clean error | unclean | crash | hang | slowest s | total s | covers |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        var failed: [String] = []
        for target in chosen {
            let started = Date()
            let tally = try campaign.run(target, cases: range(target.name)) { index, outcome, message in
                if printErrors && outcome != .success
                    || (verbose || `case` != nil) && (outcome.isFailure || `case` != nil)
                {
                    let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
                    printError("\(target.name) case \(index): \(outcome.className): \(text)")
                }
            }
            let slowest = String(format: "%.2f", tally.slowest)
            let total = String(format: "%.0f", Date().timeIntervalSince(started))
            let counts = [tally.cases, tally.success, tally.cleanError, tally.uncleanError, tally.crash, tally.hang]
            let cells =
                [target.name] + counts.map(String.init) + ["\(slowest) (#\(tally.slowestCase))", total, target.summary]
            print("| " + cells.joined(separator: " | ") + " |")
            fflush(stdout)
            for failure in tally.failures.prefix(5) {
                let line = failure.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                printError("  \(target.name) case \(failure.caseIndex): \(failure.outcome): \(line.prefix(200))")
            }
            if !tally.passed { failed.append(target.name) }
        }
        guard failed.isEmpty else {
            printError("fuzz: failures in \(failed.joined(separator: ", ")); inputs kept in \(work)/failures")
            throw ExitCode(1)
        }
    }

    /// `TARGET=N` values by target name; an unknown target or a count outside 0...10⁷ is an error.
    static func budgets(_ values: [String], targets: [String]) throws -> [String: Int] {
        var budgets: [String: Int] = [:]
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let count = Int(parts[1]), (0...10_000_000).contains(count) else {
                throw ValidationError("--cases-for '\(value)': expected TARGET=N with N in 0...10000000")
            }
            guard targets.contains(parts[0]) else {
                throw ValidationError(
                    "--cases-for: unknown fuzz target '\(parts[0])' (targets: \(targets.joined(separator: ", ")))")
            }
            budgets[parts[0]] = count
        }
        return budgets
    }

    func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}
