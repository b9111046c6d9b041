import Autograd
import Foundation
import Formats
import Llama
import Support

/// Where a run stands: what a checkpoint needs besides the weights and optimizer moments.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Optimizer steps completed.
    public var step: Int
    /// The epoch being read and how many of its examples were consumed.
    public var epoch: Int, cursor: Int
    /// The run's seed and the hash of the config keys a resume must not change.
    public var seed: UInt64
    public var configHash: String
    /// The total steps the LR schedule spans.
    public var totalSteps: Int
    /// The loss of each completed step, for the record.
    public var losses: [Float]
    /// Checksums of the checkpoint's other files (file name → FNV-1a 64 hex), checked before a
    /// resume; nil in checkpoints written before they existed.
    public var checksums: [String: String]?
    /// The spike guard's windows and the updates it skipped (nil: guard off, or an older checkpoint).
    public var spikeGuard: SpikeGuard?
    public var skippedSteps: [Int]?

    /// A state from its values.
    public init(step: Int, epoch: Int, cursor: Int, seed: UInt64, configHash: String, totalSteps: Int, losses: [Float])
    {
        self.step = step
        self.epoch = epoch
        self.cursor = cursor
        self.seed = seed
        (self.configHash, self.totalSteps, self.losses) = (configHash, totalSteps, losses)
    }

    enum CodingKeys: String, CodingKey {
        case step, epoch, cursor, seed, configHash = "config_hash", totalSteps = "total_steps", losses, checksums
        case spikeGuard = "spike_guard", skippedSteps = "skipped_steps"
    }
}

/// Checkpoint folders `checkpoints/step-000100/`: the adapter (PEFT files), `optimizer.safetensors`
/// (AdamW `m`, `v`, step), `trainer_state.json` and the resolved `config.yaml`. Each is written
/// into a temporary folder, fsynced, then renamed; the file `latest` names the newest complete
/// checkpoint; only the last K are kept. `trainer_state.json` carries checksums of the other
/// files, and `latest(in:)` returns the newest checkpoint that verifies. A leftover temporary
/// folder is never read, and is removed when the next run starts (`removeLeftovers`).
public enum Checkpoint {
    /// The folder name of step `step`.
    public static func folderName(step: Int) -> String { String(format: "step-%06d", step) }

    /// Writes a checkpoint of `model`, `optimizer` and `state` into `directory`; returns its URL.
    @discardableResult
    public static func save(
        model: LlamaModel, adapterConfig: AdapterConfig, arena: ParameterArena, optimizer: AdamW, state: TrainerState,
        configYAML: String, directory: URL, keepLast: Int
    ) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = folderName(step: state.step)
        let final = directory.appendingPathComponent(name)
        let temporary = directory.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        try AdapterFiles.write(model: model, config: adapterConfig, to: temporary)
        var moments: [String: SafeTensor] = [:]
        for (index, (id, tensor)) in model.trainableParameters.enumerated() {
            let parameterName = PEFTNames.key(id)
            let range = arena.ranges[index]
            moments["m." + parameterName] = SafeTensor(Array(optimizer.m[range]), shape: tensor.shape)
            moments["v." + parameterName] = SafeTensor(Array(optimizer.v[range]), shape: tensor.shape)
        }
        try SafeTensorsFile.write(
            moments, metadata: ["step": "\(optimizer.step)"],
            to: temporary.appendingPathComponent("optimizer.safetensors"))
        try AtomicFile.write(Data(configYAML.utf8), to: temporary.appendingPathComponent("config.yaml"))
        // The checksums are of the bytes on disk, read back: trainer_state.json is written last.
        var state = state
        state.checksums = try Dictionary(
            uniqueKeysWithValues: checksummedFiles.map { ($0, try checksum(temporary.appendingPathComponent($0))) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: temporary.appendingPathComponent("trainer_state.json"))
        AtomicFile.syncDirectory(temporary)
        if FileManager.default.fileExists(atPath: final.path) { try FileManager.default.removeItem(at: final) }
        guard rename(temporary.path, final.path) == 0 else {
            throw TrainingError.badCheckpoint(
                path: final.path, detail: "cannot rename \(temporary.lastPathComponent) into place")
        }
        AtomicFile.syncDirectory(directory)
        try AtomicFile.write(Data((name + "\n").utf8), to: directory.appendingPathComponent("latest"))
        let complete = try completeCheckpoints(in: directory)
        for old in complete.dropLast(keepLast) { try? FileManager.default.removeItem(at: old) }
        return final
    }

    /// The complete checkpoint folders in `directory`, oldest first (temporary folders ignored).
    public static func completeCheckpoints(in directory: URL) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("step-") }.sorted().map { directory.appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("trainer_state.json").path) }
    }

    /// The newest complete checkpoint that verifies (newer ones that fail their checks are passed
    /// over; the file `latest` is written for people and scripts, not read).
    public static func latest(in directory: URL) throws -> URL { try latestVerified(in: directory).folder }

    /// The newest checkpoint that verifies, its trainer state and config YAML, and the newer ones
    /// passed over with the reason.
    public static func latestVerified(in directory: URL)
        throws -> (folder: URL, state: TrainerState, configYAML: String, skipped: [(folder: URL, reason: String)])
    {
        var skipped: [(folder: URL, reason: String)] = []
        for folder in try completeCheckpoints(in: directory).reversed() {
            do {
                let (state, configYAML) = try verify(folder)
                return (folder, state, configYAML, skipped)
            } catch {
                skipped.append((folder, "\(error)"))
            }
        }
        let reasons = skipped.map { "\($0.folder.lastPathComponent): \($0.reason)" }.joined(separator: "; ")
        let detail = skipped.isEmpty ? "no complete checkpoint to resume from" : "no checkpoint verifies (\(reasons))"
        throw TrainingError.badCheckpoint(path: directory.path, detail: detail)
    }

    /// The files whose checksums `trainer_state.json` carries.
    static let checksummedFiles = [
        "adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "config.yaml",
    ]

    /// The trainer state and config YAML of `folder`; throws unless it is a readable checkpoint
    /// whose files match their checksums.
    @discardableResult
    public static func verify(_ folder: URL) throws -> (TrainerState, String) {
        let (state, configYAML) = try readState(folder)
        guard let checksums = state.checksums else { return (state, configYAML) }  // written before checksums existed
        for name in checksummedFiles {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TrainingError.badCheckpoint(path: url.path, detail: "missing")
            }
            guard let expected = checksums[name], try checksum(url) == expected else {
                throw TrainingError.badCheckpoint(
                    path: url.path, detail: "checksum differs from trainer_state.json (the file is damaged)")
            }
        }
        return (state, configYAML)
    }

    /// FNV-1a 64 of a file's bytes, hex: enough to notice a damaged or truncated file (not an attacker).
    static func checksum(_ url: URL) throws -> String {
        let file = try MappedFile(path: url.path)
        let bytes = file.base.assumingMemoryBound(to: UInt8.self)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<file.size { hash = (hash ^ UInt64(bytes[i])) &* 0x100_0000_01b3 }
        return String(format: "%016llx", hash)
    }

    /// Removes the temporary folders (`.step-N.tmp-PID`) that writes killed half-way left in
    /// `directory`, except this process's own; returns their names.
    @discardableResult
    public static func removeLeftovers(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let own = ".tmp-\(getpid())"
        let leftovers = names.filter { $0.hasPrefix(".step-") && $0.contains(".tmp-") && !$0.hasSuffix(own) }
        for name in leftovers { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return leftovers
    }

    /// The trainer state and resolved config YAML of a checkpoint.
    public static func readState(_ folder: URL) throws -> (TrainerState, String) {
        let statePath = folder.appendingPathComponent("trainer_state.json")
        guard let stateData = FileManager.default.contents(atPath: statePath.path) else {
            throw TrainingError.badCheckpoint(path: folder.path, detail: "no trainer_state.json")
        }
        let state: TrainerState
        switch JSONText.decode(TrainerState.self, from: stateData) {
        case .success(let decoded): state = decoded
        case .failure(let problem): throw TrainingError.badCheckpoint(path: statePath.path, detail: problem.detail)
        }
        let configYAML = (try? String(contentsOf: folder.appendingPathComponent("config.yaml"), encoding: .utf8)) ?? ""
        return (state, configYAML)
    }

    /// Loads a checkpoint's LoRA values into `model` (whose parameters live in `arena`) and its
    /// moments into `optimizer`.
    public static func loadWeights(_ folder: URL, into model: LlamaModel, arena: ParameterArena, optimizer: AdamW)
        throws
    {
        let adapter = try SafeTensorsFile(path: folder.appendingPathComponent("adapter_model.safetensors").path)
        let moments = try SafeTensorsFile(path: folder.appendingPathComponent("optimizer.safetensors").path)
        let parameters = model.trainableParameters
        precondition(
            parameters.count == arena.ranges.count,
            "loadWeights: \(parameters.count) parameters for an arena of \(arena.ranges.count)")
        var m = [Float](repeating: 0, count: arena.count), v = m
        for ((id, tensor), range) in zip(parameters, arena.ranges) {
            let name = PEFTNames.key(id)
            func read(_ file: SafeTensorsFile, _ key: String) throws -> [Float] {
                do { return try file.floats(key, shape: tensor.shape) } catch {
                    throw TrainingError.badCheckpoint(
                        path: file.path, detail: "tensor \(key) missing or not of shape \(tensor.shape): \(error)")
                }
            }
            tensor.data = try read(adapter, name)
            m.replaceSubrange(range, with: try read(moments, "m." + name))
            v.replaceSubrange(range, with: try read(moments, "v." + name))
        }
        guard let stepText = moments.metadata["step"], let step = Int(stepText), step >= 0 else {
            throw TrainingError.badCheckpoint(
                path: moments.path, detail: "no optimizer step (a count ≥ 0) in the metadata")
        }
        optimizer.restore(m: m, v: v, step: step)
    }
}
