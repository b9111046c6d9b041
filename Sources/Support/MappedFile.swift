import Foundation

/// A read-only memory-mapped file. Tensors are read out of it one at a time; after each read the
/// pages are released (`MADV_DONTNEED`) so that streaming a checkpoint does not keep every page
/// resident: the file stays in the page cache, not in this process's memory.
public final class MappedFile: @unchecked Sendable {
    /// The file path.
    public let path: String
    /// The first byte of the mapping.
    public let base: UnsafeRawPointer
    /// The file size in bytes.
    public let size: Int

    /// Maps `path`; an empty file maps to a zero-length region.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.notFound(path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError.notFound(path: path) }
        size = Int(info.st_size)
        guard size > 0 else {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 8))
            return
        }
        guard let raw = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), raw != MAP_FAILED else {
            throw FileError.unmappable(path: path, size: size)
        }
        base = UnsafeRawPointer(raw)
    }

    deinit {
        if size > 0 {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// Copies `count` bytes at `offset` into `destination` in 8 MiB pieces, releasing each piece's
    /// pages after it is copied (so the file and the copy are never both resident).
    public func copy(from offset: Int, count: Int, to destination: UnsafeMutableRawPointer) {
        let piece = 8 << 20
        var done = 0
        while done < count {
            let n = min(piece, count - done)
            memcpy(destination + done, base + offset + done, n)
            release((offset + done)..<(offset + done + n))
            done += n
        }
    }

    /// Drops the resident pages of `range` (bytes) from this process.
    public func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(size, (range.upperBound + page - 1) / page * page)
        if end > start { madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED) }
    }
}
