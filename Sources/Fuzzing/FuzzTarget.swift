import Foundation

/// One loader under test: the seed folder a case starts from, the files a case may mutate, and
/// the `loft` command that reads them (the same code path a user's command takes).
public struct FuzzTarget: Sendable {
    /// The target's name (`--target`).
    public let name: String
    /// What it covers, for the report.
    public let summary: String
    /// Files (relative to the case folder) of which each case mutates one.
    public let files: [(path: String, kind: MutationKind)]
    /// `loft`'s arguments for a case folder.
    public let arguments: @Sendable (String) -> [String]

    static let prompt = ["--prompt", "Once upon a time", "--max-new-tokens", "2"]

    /// Every target: model formats, tokenizers, configs, data, adapters, checkpoints. `root` is the
    /// seeds folder (where the runs' shared files live).
    public static func all(seeds root: String) -> [FuzzTarget] {
        let tokenizer = ["--tokenizer", root + "/llama2c/tok512.model"]
        let stories = ["--model", root + "/llama2c/model.bin"] + tokenizer
        let step = "runs/fuzz/checkpoints/step-000002/"
        return [
            FuzzTarget(name: "llama2c", summary: "llama2.c checkpoint", files: [("model.bin", .binary)]) {
                ["generate", "--model", $0 + "/model.bin", "--tokenizer", $0 + "/tok512.model"] + prompt
            },
            FuzzTarget(
                name: "safetensors", summary: "HF safetensors, one file",
                files: [("hf/model.safetensors", .safetensors)]
            ) {
                ["generate", "--model", $0 + "/hf"] + prompt
            },
            FuzzTarget(
                name: "sharded", summary: "HF safetensors, two shards + index JSON",
                files: [
                    ("hf/model.safetensors.index.json", .text), ("hf/model-00001-of-00002.safetensors", .safetensors),
                    ("hf/model-00002-of-00002.safetensors", .safetensors),
                ]
            ) {
                ["generate", "--model", $0 + "/hf"] + prompt
            },
            FuzzTarget(name: "hf-config", summary: "HF config.json", files: [("hf/config.json", .text)]) {
                ["generate", "--model", $0 + "/hf"] + prompt
            },
            FuzzTarget(name: "gguf", summary: "GGUF (Q8_0/F16/F32, BPE metadata)", files: [("model.gguf", .binary)]) {
                ["generate", "--model", $0 + "/model.gguf"] + prompt
            },
            FuzzTarget(
                name: "gguf-spm", summary: "GGUF with a SentencePiece vocabulary", files: [("model.gguf", .binary)]
            ) {
                ["generate", "--model", $0 + "/model.gguf"] + prompt
            },
            FuzzTarget(
                name: "gguf-vocab", summary: "vocabulary-only GGUF (no tensors)", files: [("vocab.gguf", .binary)]
            ) {
                ["tokenize", "--model", $0 + "/vocab.gguf", "--text", "Once upon a time, 3 cats. ümlaut"]
            },
            FuzzTarget(
                name: "tokenizer-json", summary: "tokenizer.json + tokenizer_config.json",
                files: [("hf/tokenizer.json", .text), ("hf/tokenizer_config.json", .text)]
            ) {
                ["generate", "--model", $0 + "/hf"] + prompt
            },
            FuzzTarget(
                name: "sentencepiece", summary: "SentencePiece tokenizer.model", files: [("tok512.model", .binary)]
            ) {
                [
                    "tokenize", "--model", $0 + "/model.bin", "--tokenizer", $0 + "/tok512.model", "--text",
                    "Once upon a time, 3 cats.",
                ]
            },
            FuzzTarget(name: "yaml", summary: "run config YAML", files: [("run.yaml", .text)]) {
                // max_steps pinned: a mutated step count asks for a long run, which is no bug
                ["train", "--config", $0 + "/run.yaml", "--runs-dir", $0 + "/runs", "--set", "training.max_steps=3"]
            },
            FuzzTarget(name: "gsm8k-jsonl", summary: "GSM8K JSONL", files: [("test.jsonl", .text)]) {
                [
                    "eval", "--gsm8k", "--data", $0 + "/test.jsonl", "--limit", "3", "--max-new-tokens", "3", "--batch",
                    "2",
                ] + stories
            },
            FuzzTarget(name: "text", summary: "perplexity text file", files: [("text.txt", .text)]) {
                ["eval", "--perplexity", "--data", $0 + "/text.txt", "--seq-len", "32", "--batch", "2"] + stories
            },
            FuzzTarget(
                name: "adapter", summary: "PEFT adapter_config.json + adapter_model.safetensors",
                files: [("adapter/adapter_config.json", .text), ("adapter/adapter_model.safetensors", .safetensors)]
            ) {
                ["generate", "--adapter", $0 + "/adapter"] + stories + prompt
            },
            FuzzTarget(
                name: "checkpoint", summary: "checkpoint folder, --resume latest",
                files: [
                    (step + "trainer_state.json", .text), (step + "adapter_model.safetensors", .safetensors),
                    (step + "optimizer.safetensors", .safetensors), (step + "adapter_config.json", .text),
                    (step + "config.yaml", .text), ("runs/fuzz/checkpoints/step-000001/trainer_state.json", .text),
                ]
            ) {
                ["train", "--config", $0 + "/run.yaml", "--runs-dir", $0 + "/runs", "--resume", "latest"]
            },
            FuzzTarget(
                name: "chat-jsonl", summary: "chat JSONL (messages / conversations), packed",
                files: [("chat.jsonl", .text)]
            ) {
                [
                    "train", "--config", root + "/chat-run.yaml", "--runs-dir", $0 + "/runs", "--set",
                    "data.train_path=\($0)/chat.jsonl", "--set", "data.eval_path=\($0)/chat.jsonl",
                ]
            },
            FuzzTarget(
                name: "chat-template", summary: "Jinja chat template (Qwen2.5's)", files: [("template.jinja", .text)]
            ) {
                [
                    "tokenize", "--chat", root + "/conversation.json", "--chat-template", $0 + "/template.jinja",
                    "--model", root + "/llama2c/model.bin",
                ] + tokenizer
            },
            FuzzTarget(
                name: "quantized", summary: "loft quantize folder",
                files: [("q/config.json", .text), ("q/model.safetensors", .safetensors)]
            ) {
                ["generate", "--model", $0 + "/q"] + prompt
            },
        ]
    }
}
