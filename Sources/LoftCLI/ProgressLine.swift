import Recipes
import Foundation

/// The one-line progress display on stderr (a new line per update when stderr is not a terminal).
final class ProgressLine {
    let interactive = isatty(STDERR_FILENO) != 0

    func show(_ event: TrainingEvent) {
        switch event {
        case .prepared(let p):
            let examples =
                p.packedExamples.map { "\(p.trainExamples) rows packed from \($0) examples" }
                ?? "\(p.trainExamples) examples"
            var line =
                "training \(p.totalSteps) steps on \(examples) (eval \(p.evalExamples)); \(p.trainableParameters) trainable parameters"
            if let initError = p.initError, let plain = p.plainError {
                line += String(format: "; init error %.4f (plain quantization %.4f)", initError, plain)
            }
            emit(line, final: true)
            if let data = p.data {
                var counts = "data: train " + Self.describe(data.train)
                if let eval = data.eval { counts += "; eval " + Self.describe(eval) }
                emit(counts, final: true)
                for refusal in [data.train.firstRefusal, data.eval?.firstRefusal].compactMap({ $0 }) {
                    emit("  first refused: \(refusal)", final: true)
                }
            }
        case .warning(let text):
            emit("loft: warning: \(text)", final: true)
        case .resumed(let step, let from):
            emit("resumed at step \(step) from \(from.path)", final: true)
        case .removedLeftovers(let names):
            emit(
                "removed \(names.count) temporary checkpoint folder(s) left by an interrupted write: "
                    + names.joined(separator: ", "),
                final: true)
        case .skippedCheckpoint(let folder, let reason):
            emit("skipped checkpoint \(folder.lastPathComponent): \(reason)", final: true)
        case .step(let r):
            emit(
                String(
                    format: "step %d/%d | epoch %.2f | loss %.4f | lr %.2e | %.0f tok/s | ETA %@",
                    r.step, r.totalSteps, r.epoch, r.loss, r.learningRate, r.tokensPerSecond,
                    Self.duration(r.etaSeconds) as NSString)
                    + (r.skipped ? " | update skipped (spike; \(r.skippedUpdates) so far)" : ""),
                final: !interactive || r.skipped)
        case .evaluation(let r):
            emit(
                String(
                    format: "eval at step %d: loss %.4f, perplexity %.3f (%d targets)", r.step, r.loss, r.perplexity,
                    r.targets), final: true)
        case .samples(let records):
            for record in records {
                let answer = record.output.count > 300 ? record.output.prefix(300) + "…" : Substring(record.output)
                let end = record.stopped ? "" : " [no end of turn within eval.sample_max_tokens]"
                emit("sample \(record.index) at step \(record.step): \(answer.debugDescription)\(end)", final: true)
            }
        case .checkpoint(let step, let url):
            emit("checkpoint step \(step): \(url.path)", final: true)
        case .finished(let step, _):
            emit("finished at step \(step)", final: true)
        }
    }

    static func describe(_ counts: DataCounts) -> String {
        "\(counts.kept) kept, \(counts.truncated) truncated to max_seq_len, \(counts.refused) refused"
    }

    private var lastNote = 0.0

    /// A transient status line (or a final one); without a terminal, at most one every 10 s.
    func note(_ text: String, final: Bool) {
        let now = Stopwatch.now()
        if !interactive && !final && now - lastNote < 10 { return }
        lastNote = now
        emit(text, final: final || !interactive)
    }

    private var pending = false

    private func emit(_ text: String, final: Bool) {
        var output = ""
        if interactive && pending { output += "\r\u{1B}[2K" }
        output += text
        if final || !interactive { output += "\n"; pending = false } else { pending = true }
        FileHandle.standardError.write(Data(output.utf8))
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
