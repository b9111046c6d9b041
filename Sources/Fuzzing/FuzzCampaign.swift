import Autograd
import Foundation

/// A fuzzing session: builds the seeds once, then runs `cases` mutated inputs per target in forked
/// children and tallies the outcomes. Case `i` of a target is a function of (seed, target, i) and
/// the seed files, so any one case can be replayed (`loft fuzz --target T --seed S --case i`) with
/// the same `--work` and `--data` (the run config and checkpoint seeds name those folders' paths).
public struct FuzzCampaign {
    /// Seeds under `work/seeds`, case folders `work/slot-N`, kept failures `work/failures`.
    public let work: URL
    public let seed: UInt64
    public let runner: ForkRunner
    /// Runs `loft` with these arguments in the child (it exits; a return is an exit code).
    let loft: ([String]) -> Int32

    /// A campaign in `work` (created), children `width` at a time.
    public init(
        work: URL, seed: UInt64, width: Int, timeout: Double, memoryLimit: Int, loft: @escaping ([String]) -> Int32
    ) throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        (self.work, self.seed, self.loft) = (work, seed, loft)
        runner = ForkRunner(width: width, timeout: timeout, memoryLimit: memoryLimit, folder: work)
    }

    public var seedsRoot: URL { work.appendingPathComponent("seeds") }

    /// Builds every seed (each step in a child, so the parent starts no threads): the format
    /// files, a three-step training run (its step-2 checkpoint and its final adapter) and a
    /// `loft quantize` folder; each seed must itself load, or the campaign stops.
    public func buildSeeds(_ sources: FuzzSeeds.Sources) throws {
        let files = FileManager.default
        if files.fileExists(atPath: seedsRoot.path) { try files.removeItem(at: seedsRoot) }
        try files.createDirectory(at: seedsRoot, withIntermediateDirectories: true)
        let root = seedsRoot.path
        let steps: [(String, () -> Int32)] = [
            (
                "files",
                {
                    do { try FuzzSeeds.write(to: seedsRoot, from: sources); return 0 } catch {
                        fputs("\(error)\n", stderr); return 1
                    }
                }
            ),
            (
                "training run",
                { loft(["train", "--config", root + "/yaml/run.yaml", "--runs-dir", root + "/checkpoint/runs"]) }
            ),
            (
                "quantize",
                {
                    loft([
                        "quantize", "--model", root + "/llama2c/model.bin", "--tokenizer",
                        root + "/llama2c/tok512.model", "--bits", "2.5",
                        "--rank", "4", "--alpha", "8", "--loftq-iters", "1", "--double-quant", "--out",
                        root + "/quantized/q",
                    ])
                }
            ),
        ]
        for (name, step) in steps {
            var failure: String? = nil
            try ForkRunner(width: 1, timeout: 300, memoryLimit: runner.memoryLimit, folder: work)
                .run(cases: 0..<1, prepare: { _, _ in }, child: { _, _ in step() }) { _, _, status, message, _ in
                    if status != .exited(0) { failure = "\(status): \(message)" }
                }
            if let failure { throw FuzzError.seed(target: name, detail: failure) }
        }
        let run = seedsRoot.appendingPathComponent("checkpoint/runs/fuzz")
        try files.createDirectory(at: seedsRoot.appendingPathComponent("adapter"), withIntermediateDirectories: true)
        try files.copyItem(
            at: run.appendingPathComponent("final"), to: seedsRoot.appendingPathComponent("adapter/adapter"))
        try files.removeItem(at: seedsRoot.appendingPathComponent("adapter/adapter/config.yaml"))
        try files.removeItem(at: run.appendingPathComponent("final"))
        try files.removeItem(at: run.appendingPathComponent("checkpoints/step-000003"))
        try files.copyItem(
            at: seedsRoot.appendingPathComponent("yaml/run.yaml"),
            to: seedsRoot.appendingPathComponent("checkpoint/run.yaml"))
    }

    /// The bytes case `caseIndex` of `target` writes, and the file it writes them to.
    func mutation(_ target: FuzzTarget, caseIndex: Int) throws -> (path: String, kind: MutationKind, bytes: [UInt8]) {
        var rng = RandomState(seed: seed).split("fuzz/\(target.name)/\(caseIndex)")
        let file = target.files[Int(rng.next() % UInt64(target.files.count))]
        let seedFile = seedsRoot.appendingPathComponent(target.name).appendingPathComponent(file.path)
        let original = [UInt8](try Data(contentsOf: seedFile))
        var mutator = Mutator(rng: rng.split("mutate"))
        return (file.path, file.kind, mutator.mutate(original, kind: file.kind))
    }

    func slotFolder(_ slot: Int) -> URL { work.appendingPathComponent("slot-\(slot)") }

    /// Runs `cases` of `target`; failing cases' folders are kept under `work/failures/TARGET/case-N`
    /// with `message.txt`. `onCase` sees every outcome (for progress).
    public func run(
        _ target: FuzzTarget, cases: Range<Int>, onCase: (Int, FuzzOutcome, String) -> Void = { _, _, _ in }
    ) throws -> FuzzTally {
        let files = FileManager.default
        var tally = FuzzTally()
        var mutated: [Int: String] = [:], mutatedKind: [Int: MutationKind] = [:]
        try runner.run(
            cases: cases,
            prepare: { caseIndex, slot in
                let folder = slotFolder(slot)
                if files.fileExists(atPath: folder.path) { try files.removeItem(at: folder) }
                try files.copyItem(at: seedsRoot.appendingPathComponent(target.name), to: folder)
                let (path, kind, bytes) = try mutation(target, caseIndex: caseIndex)
                let url = folder.appendingPathComponent(path)
                try Data(bytes).write(to: url)
                (mutated[slot], mutatedKind[slot]) = (url.path, kind)
            },
            child: { _, slot in
                loft(target.arguments(slotFolder(slot).path))
            },
            finished: { caseIndex, slot, status, stderr, seconds in
                let path = mutated[slot] ?? ""
                let names =
                    [path, (path as NSString).deletingLastPathComponent]
                    + (mutatedKind[slot] == .text ? Self.pathsNamed(in: path) : [])
                let message = Self.errorMessage(stderr)
                let outcome = FuzzOutcome.classify(status, stderr: message, names: names)
                tally.record(caseIndex, outcome, message: message, seconds: seconds)
                onCase(caseIndex, outcome, message)
                if outcome.isFailure, tally.failures.count <= 20 {
                    let kept = work.appendingPathComponent("failures/\(target.name)/case-\(caseIndex)")
                    try? files.removeItem(at: kept)
                    try? files.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try? files.copyItem(at: slotFolder(slot), to: kept)
                    try? Data("\(outcome) \(path)\n\(message)".utf8).write(
                        to: kept.appendingPathComponent("message.txt"))
                }
            })
        return tally
    }

    /// The paths a text file names (words with a '/'): an error about one of them (a config's
    /// missing model file) names the file at fault.
    static func pathsNamed(in path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 16 else { return [] }
        let separators = Set(Array(" \t\r\n\",[]".utf8))
        return data.split(whereSeparator: { separators.contains($0) })
            .filter { $0.contains(0x2F) }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// What the user saw as the error: from the last `Error:` line on (progress lines before it
    /// are not part of the message), or everything when there is none.
    static func errorMessage(_ stderr: String) -> String {
        guard let range = stderr.range(of: "Error: ", options: .backwards) else { return stderr }
        let lineStart =
            stderr[..<range.lowerBound].lastIndex(of: "\n").map { stderr.index(after: $0) } ?? stderr.startIndex
        return String(stderr[lineStart...])
    }
}
