import Autograd
import Llama
import Foundation
import Support

/// Which config keys a resume must not change (they shape the model, the data or their order),
/// their hash, and which of them differ.
public enum RunCompatibility {
    /// Sections compared whole, and single training keys.
    static let sections = ["model", "quantization", "lora", "data"]
    static let trainingKeys = ["seed", "batch_size", "grad_accumulation"]

    /// The compared keys of `config`, flattened to `section.key` → JSON text.
    static func fingerprint(_ config: RunConfig) -> [String: String] {
        guard let data = try? JSONEncoder().encode(config),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        var flat: [String: String] = [:]
        func text(_ value: Any) -> String {
            (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])).map {
                String(decoding: $0, as: UTF8.self)
            } ?? "\(value)"
        }
        for section in sections {
            if let fields = object[section] as? [String: Any] {
                // An unset optional (null) is left out, as it was before nulls were written.
                for (key, value) in fields where !(value is NSNull) && !isNewDefault("\(section).\(key)", value) {
                    flat["\(section).\(key)"] = text(value)
                }
            } else {
                flat[section] = text(object[section] ?? "none")
            }
        }
        let training = object["training"] as? [String: Any] ?? [:]
        for key in trainingKeys { flat["training.\(key)"] = text(training[key] ?? "") }
        return flat
    }

    /// Keys added after runs were checkpointed, at their defaults: left out, so those runs resume.
    private static func isNewDefault(_ key: String, _ value: Any) -> Bool {
        switch key {
        case "data.train_on": return value as? String == RunConfig.TrainOn.assistant.rawValue
        case "data.packing": return value as? Bool == false
        default: return false
        }
    }

    /// A stable hash (FNV-1a, hex) of the compared keys.
    public static func hash(_ config: RunConfig) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for (key, value) in fingerprint(config).sorted(by: { $0.key < $1.key }) {
            for byte in (key + "=" + value + ";").utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return String(format: "%016llx", h)
    }

    /// The compared keys whose values differ between `config` and a saved config's YAML.
    public static func differingKeys(_ config: RunConfig, savedYAML: String, file: String) -> [String] {
        guard let saved = try? ConfigLoader.parse(savedYAML, file: file) else {
            return ["(the saved config.yaml is unreadable)"]
        }
        let (a, b) = (fingerprint(config), fingerprint(saved))
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }
}

/// `runs/NAME/run.json`: what ran where: the BLAS kernel and threads, CPU features, and when.
public enum RunMetadata {
    struct Record: Encodable {
        let runtime: RuntimeInfo
        let configFile: String
        let startedAt: String
        let resumedFrom: String?
        let data: DataCountsByFile?
    }

    /// Writes the record atomically; `compute` is the run's compute type (the record names the
    /// one its products get on this CPU).
    public static func write(
        to directory: URL, configFile: String, resumedFrom: String?, compute: ComputeType, data: DataCountsByFile? = nil
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let record = Record(
            runtime: .current(compute: compute), configFile: configFile,
            startedAt: ISO8601DateFormatter().string(from: Date()), resumedFrom: resumedFrom, data: data)
        try AtomicFile.write(try encoder.encode(record), to: directory.appendingPathComponent("run.json"))
    }
}
