#if canImport(Glibc)
import Glibc
#endif

/// Reads files with a size bound and a precise reason when they cannot be read.
public enum BoundedFile {
    /// Why a file could not be read: the system's words for errno ("Permission denied").
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
        public init(reason: String) { self.reason = reason }
    }

    /// At most `limit` bytes of `path` (a larger file is cut there; callers check the size).
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        defer { _ = close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { throw ReadError(reason: String(cString: strerror(EISDIR))) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while out.count < limit {
            let want = min(chunk.count, limit - out.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }
}
