import Foundation
/// Problems opening or writing files (the outside world: these throw, never trap).
public enum FileError: Error, CustomStringConvertible {
    /// A file or folder that should exist does not.
    case notFound(path: String)
    /// The file exists but cannot be memory-mapped.
    case unmappable(path: String, size: Int)
    /// Writing `path` failed for the reason the system gave (`errno`), said in plain words.
    case cannotWrite(path: String, errno: Int32)

    /// What a write failure's `errno` means for the person running loft.
    public static func reason(errno code: Int32) -> String {
        switch code {
        case ENOSPC: return "the disk is full (free some space and run again; nothing already written was lost)"
        case EDQUOT: return "the disk quota is used up"
        case EACCES, EPERM: return "permission denied (the folder is not writable by this user)"
        case EROFS: return "the file system is read-only"
        case ENOENT: return "the folder does not exist"
        case EISDIR: return "a folder has that name"
        default: return String(cString: strerror(code))
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path): return "file not found: \(path)"
        case .unmappable(let path, let size): return "\(path): cannot map \(size) bytes"
        case .cannotWrite(let path, let code): return "cannot write \(path): \(Self.reason(errno: code))"
        }
    }
}
