import Foundation

/// Crash-safe file writes: a reader sees the old file or the complete new one, never a mix.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { emit in try data.withUnsafeBytes(emit) }
    }

    /// Writes what `produce` emits into a temporary file beside `url`, fsyncs it, renames it over
    /// `url`, and fsyncs the folder; on any error the temporary file is removed and `url` is untouched.
    public static func write(to url: URL, _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError.cannotWrite(path: url.path, errno: errno) }
        do {
            try produce { piece in
                var done = 0
                while done < piece.count {
                    let n = Glibc.write(fd, piece.baseAddress! + done, piece.count - done)
                    guard n > 0 else { throw FileError.cannotWrite(path: url.path, errno: n < 0 ? errno : ENOSPC) }
                    done += n
                }
            }
            guard fsync(fd) == 0 else { throw FileError.cannotWrite(path: url.path, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary.path)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            let code = errno
            unlink(temporary.path)
            throw FileError.cannotWrite(path: url.path, errno: code)
        }
        syncDirectory(directory)
    }

    /// fsyncs a folder so that a rename inside it is durable.
    public static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
