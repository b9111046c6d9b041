import Foundation
import Training

/// The experiment's picture as SVG (`loft plot`): training-loss curves of chosen cells (left) and
/// the final score against the base's bits per method (right: perplexity on a log scale, or GSM8K
/// accuracy in % for a grid without perplexity; the fp32-base LoRA as a dashed line). Plain SVG
/// 1.1, no dependencies.
public enum ExperimentPlot {
    /// A line to draw: its label and points.
    public struct Series {
        public let label: String, points: [(x: Double, y: Double)], dashed: Bool
        /// The stroke colour (nil: the next of the palette).
        public let color: String?
        /// A series from its parts.
        public init(label: String, points: [(x: Double, y: Double)], dashed: Bool, color: String? = nil) {
            self.label = label
            self.points = points
            self.dashed = dashed
            self.color = color
        }
    }

    /// One colour per method, the same in both panels.
    public static func color(method: String) -> String {
        switch method {
        case "loftq": return "#1f77b4"
        case "qlora": return "#d62728"
        case "lora": return "#2ca02c"
        case "loftq_peft": return "#ff7f0e"
        default: return "#7f7f7f"
        }
    }

    /// The loss curve of a run folder: its logged training losses by step (the last record of a
    /// step wins: a resumed run logs the steps after its checkpoint again), smoothed over `window`.
    public static func lossCurve(runFolder: URL, window: Int = 5) throws -> [(x: Double, y: Double)] {
        let url = runFolder.appendingPathComponent("metrics.jsonl")
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        var byStep: [Int: Double] = [:]
        for (index, line) in data.split(separator: 0x0A).enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw TrainingError.badData(file: url.path, line: index + 1, detail: "not a JSON object")
            }
            if object["kind"] as? String == "train", let step = object["step"] as? Int,
                let loss = object["loss"] as? Double
            {
                byStep[step] = loss
            }
        }
        let points = byStep.keys.sorted().map { (x: Double($0), y: byStep[$0]!) }
        return points.indices.map { i in
            let slice = points[max(0, i - window + 1)...i]
            return (x: points[i].x, y: slice.map(\.y).reduce(0, +) / Double(slice.count))
        }
    }

    /// A cell's series in the bits panel: its method, plus whatever of rank, alpha and LoftQ steps
    /// differs from the grid's usual setting (the most common one), so that extra rows at one bit
    /// width stand apart instead of zig-zagging the method's line.
    public static func seriesLabel(_ r: CellResult, in results: [CellResult]) -> String {
        func usual<T: Hashable>(_ key: (CellResult) -> T) -> T? {
            Dictionary(grouping: results, by: key).max { $0.value.count < $1.value.count }?.key
        }
        var parts = [r.method]
        if r.rank != usual(\.rank) { parts.append("r\(r.rank)") }
        if r.alpha != usual(\.alpha) { parts.append("α\(Int(r.alpha))") }
        if r.method.hasPrefix("loftq"), r.loftqIters != usual(\.loftqIters) { parts.append("T\(r.loftqIters)") }
        return parts.joined(separator: " ")
    }

    /// The two-panel SVG for an experiment's results and the loss curves of `curveCells`.
    public static func svg(title: String, results: [CellResult], curves: [Series]) -> String {
        var methods: [String: (method: String, points: [(x: Double, y: Double)])] = [:]
        var reference: Double?
        let perplexity = results.contains { $0.final.perplexity != nil }
        for r in results {
            guard let ppl = perplexity ? r.final.perplexity : r.final.gsm8kAccuracy.map({ 100 * $0 }) else { continue }
            if r.bits != nil || r.method != "lora" {
                let label = seriesLabel(r, in: results)
                methods[label, default: (r.method, [])].points.append((x: r.bits ?? 16, y: ppl))
            } else {
                reference = ppl
            }
        }
        let bitSeries = methods.keys.sorted().map {
            Series(
                label: $0, points: methods[$0]!.points.sorted { $0.x < $1.x }, dashed: $0 != methods[$0]!.method,
                color: color(method: methods[$0]!.method))
        }
        var out = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"420\" viewBox=\"0 0 960 420\" font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"960\" height=\"420\" fill=\"white\"/>",
            "<text x=\"480\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>",
        ]
        out += panel(
            x: 60, y: 50, width: 380, height: 300, title: "training loss (moving mean of 5 logs)", xLabel: "step",
            series: curves, logY: false, reference: nil)
        let refSeries =
            reference.map { r in
                [
                    Series(
                        label: "lora (fp32 base)", points: [(x: 2, y: r), (x: 4, y: r)], dashed: true,
                        color: color(method: "lora"))
                ]
            } ?? []
        out += panel(
            x: 540, y: 50, width: 380, height: 300,
            title: perplexity ? "final perplexity (log scale)" : "final GSM8K accuracy (%)",
            xLabel: "bits of the base", series: bitSeries + refSeries, logY: perplexity, reference: nil)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// One panel: frame, ticks, lines with markers, legend.
    static func panel(
        x: Double, y: Double, width: Double, height: Double, title: String, xLabel: String,
        series: [Series], logY: Bool, reference: Double?
    ) -> [String] {
        let all = series.flatMap(\.points).filter { $0.y.isFinite && (!logY || $0.y > 0) }
        guard let minX = all.map(\.x).min(), let maxX = all.map(\.x).max(), var minY = all.map(\.y).min(),
            var maxY = all.map(\.y).max()
        else {
            return ["<text x=\"\(x)\" y=\"\(y + height / 2)\">\(escape(title)): no data</text>"]
        }
        if logY { (minY, maxY) = (log10(minY), log10(maxY)) }
        if maxY - minY < 1e-9 { (minY, maxY) = (minY - 0.5, maxY + 0.5) }
        let padY = (maxY - minY) * 0.08
        (minY, maxY) = (minY - padY, maxY + padY)
        let spanX = max(maxX - minX, 1e-9)
        func px(_ v: Double) -> Double { x + (v - minX) / spanX * width }
        func py(_ v: Double) -> Double { y + height - ((logY ? log10(v) : v) - minY) / (maxY - minY) * height }
        var out = [
            "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#333\"/>",
            "<text x=\"\(x + width / 2)\" y=\"\(y - 8)\" text-anchor=\"middle\">\(escape(title))</text>",
            "<text x=\"\(x + width / 2)\" y=\"\(y + height + 34)\" text-anchor=\"middle\">\(escape(xLabel))</text>",
        ]
        for i in 0...4 {
            let value = minY + (maxY - minY) * Double(i) / 4
            let label = logY ? pow(10, value) : value
            let ty = y + height - height * Double(i) / 4
            out.append("<line x1=\"\(x - 4)\" y1=\"\(ty)\" x2=\"\(x)\" y2=\"\(ty)\" stroke=\"#333\"/>")
            out.append("<text x=\"\(x - 6)\" y=\"\(ty + 4)\" text-anchor=\"end\">\(tick(label))</text>")
            let xv = minX + spanX * Double(i) / 4
            out.append(
                "<line x1=\"\(px(xv))\" y1=\"\(y + height)\" x2=\"\(px(xv))\" y2=\"\(y + height + 4)\" stroke=\"#333\"/>"
            )
            out.append("<text x=\"\(px(xv))\" y=\"\(y + height + 17)\" text-anchor=\"middle\">\(tick(xv))</text>")
        }
        for (index, s) in series.enumerated() {
            let color = s.color ?? colors[index % colors.count]
            let points = s.points.filter { $0.y.isFinite && (!logY || $0.y > 0) }
            let path = points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            out.append(
                "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"\(s.dashed ? " stroke-dasharray=\"6,4\"" : "")/>"
            )
            let ly = y + 16 + Double(index) * 16
            if points.count <= 12 && !s.dashed {
                for p in points {
                    out.append(
                        String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"", px(p.x), py(p.y))
                            + " fill=\"\(color)\"/>")
                }
            } else if points.count <= 3 {
                // a few points of an extra setting: hollow markers, one shape per series (also in the legend)
                let shape = index % 4
                for (cx, cy) in points.map({ (px($0.x), py($0.y)) }) + [(x + width - 140, ly - 4)] {
                    out.append(marker(shape: shape, x: cx, y: cy, color: color))
                }
            }
            out.append(
                "<line x1=\"\(x + width - 150)\" y1=\"\(ly - 4)\" x2=\"\(x + width - 130)\" y2=\"\(ly - 4)\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"4,3\"" : "")/>"
            )
            out.append("<text x=\"\(x + width - 125)\" y=\"\(ly)\">\(escape(s.label))</text>")
        }
        return out
    }

    /// A hollow marker: circle, square, diamond or triangle.
    static func marker(shape: Int, x: Double, y: Double, color: String) -> String {
        let style = "fill=\"white\" stroke=\"\(color)\" stroke-width=\"1.6\""
        switch shape {
        case 0: return String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" ", x, y) + style + "/>"
        case 1:
            return String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" ", x - 4, y - 4) + style + "/>"
        case 2:
            return String(
                format: "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" ", x, y - 5.5, x + 5.5, y, x,
                y + 5.5, x - 5.5, y) + style + "/>"
        default:
            return String(
                format: "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" ", x, y - 5.5, x + 5, y + 4, x - 5, y + 4)
                + style + "/>"
        }
    }

    static func tick(_ value: Double) -> String {
        abs(value) >= 100
            ? String(format: "%.0f", value)
            : abs(value) >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
