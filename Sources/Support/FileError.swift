/// Problems opening or writing files (the outside world: these throw, never trap).
public enum FileError: Error, CustomStringConvertible {
    /// A file or folder that should exist does not.
    case notFound(path: String)
    /// The file exists but cannot be memory-mapped.
    case unmappable(path: String, size: Int)

    public var description: String {
        switch self {
        case .notFound(let path): return "file not found: \(path)"
        case .unmappable(let path, let size): return "\(path): cannot map \(size) bytes"
        }
    }
}
