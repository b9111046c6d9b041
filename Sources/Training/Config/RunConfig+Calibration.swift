import LoRA

extension RunConfig {
    /// `lora.calibration`: the data `loftq_aware` measures its layers' inputs on — `data` (text
    /// or JSON lines; by default the run's `data.train_path`), `samples` sequences of `seq_len`
    /// tokens, and the weighting's `form` (`exact` or `diagonal`).
    public struct CalibrationSection: Codable, Equatable, Sendable {
        public var data: String? = nil
        public var samples = 128, seqLen = 512
        public var form = ActivationWeighting.Form.exact

        /// The defaults.
        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable {
            case data, samples, seqLen = "seq_len", form
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
            (data, samples) = (try c.optional(.data, d.data), try c.value(.samples, d.samples))
            (seqLen, form) = (try c.value(.seqLen, d.seqLen), try c.value(.form, d.form))
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.first { !known.contains($0.stringValue) }
            if let unknown {
                throw DecodingError.dataCorruptedError(
                    forKey: AnyKey(unknown.stringValue), in: try decoder.container(keyedBy: AnyKey.self),
                    debugDescription: "unknown key '\(unknown.stringValue)'; expected one of "
                        + CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
    }

    /// Any key, to list a container's keys.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
