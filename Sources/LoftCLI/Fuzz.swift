import ArgumentParser
import Foundation
import Fuzzing

/// `loft fuzz`: mutation fuzzing of every loader through loft's own commands (developer check).
struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Feed mutated models, tokenizers, configs, data, adapters and checkpoints to loft's commands; every case must end in success or a one-line error naming the file (no crash, no hang).")

    @Option(name: .customLong("target"), help: "Fuzz only these targets (repeatable; default: all).")
    var targets: [String] = []
    @Option(help: "Mutated inputs per target.")
    var cases = 300
    @Option(help: "Replay only this case (its folder is kept under WORK/failures).")
    var `case`: Int?
    @Option(help: "The seed: case i of a target depends on (seed, target, i) alone.")
    var seed: UInt64 = 1
    @Option(help: "Seconds before a case counts as a hang (a case takes well under a second; slack for a busy machine).")
    var timeout = 60.0
    @Option(help: "Address-space limit of each case, GiB (an allocation beyond it is a crash).")
    var memoryGib = 4.0
    @Option(help: "Cases run at once.")
    var jobs = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Where the seeds (the stories260K model in every format) are made from.")
    var data = "data"
    @Option(help: "Working folder: seeds, case folders, kept failures.")
    var work = "runs/fuzz"
    @Flag(help: "Print every failing case as it happens.")
    var verbose = false
    @Flag(help: "Print every error message, clean ones too (to read them).")
    var printErrors = false

    func run() throws {
        let campaign = try FuzzCampaign(work: URL(fileURLWithPath: work).standardizedFileURL, seed: seed, width: jobs, timeout: timeout,
                                        memoryLimit: Int(memoryGib * 1_073_741_824)) { arguments in
            Loft.main(arguments)
            return 0
        }
        let sources = FuzzSeeds.Sources(model: absolute(data + "/models/stories260K/stories260K.bin"),
                                        tokenizer: absolute(data + "/models/stories260K/tok512.model"),
                                        gsm8k: absolute(data + "/gsm8k/test.jsonl"), text: absolute(data + "/wikitext-2-raw/wiki.valid.raw"))
        try campaign.buildSeeds(sources)
        let all = FuzzTarget.all(seeds: campaign.seedsRoot.path)
        if let unknown = targets.first(where: { name in !all.contains { $0.name == name } }) {
            throw ValidationError("unknown fuzz target '\(unknown)' (targets: \(all.map(\.name).joined(separator: ", ")))")
        }
        let chosen = targets.isEmpty ? all : all.filter { targets.contains($0.name) }
        let range = `case`.map { $0..<($0 + 1) } ?? 0..<cases
        print("seed \(seed), \(range.count) case(s) per target, timeout \(timeout) s, \(memoryGib) GiB per case")
        print("| target | cases | success | clean error | unclean | crash | hang | slowest s | total s | covers |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        var failed: [String] = []
        for target in chosen {
            let started = Date()
            let tally = try campaign.run(target, cases: range) { index, outcome, message in
                if printErrors && outcome != .success || (verbose || `case` != nil) && (outcome.isFailure || `case` != nil) {
                    printError("\(target.name) case \(index): \(outcome.className): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
            }
            print("| \(target.name) | \(tally.cases) | \(tally.success) | \(tally.cleanError) | \(tally.uncleanError) | \(tally.crash) | "
                  + "\(tally.hang) | \(String(format: "%.2f", tally.slowest)) (#\(tally.slowestCase)) | \(String(format: "%.0f", Date().timeIntervalSince(started))) | "
                  + "\(target.summary) |")
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

    func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}
