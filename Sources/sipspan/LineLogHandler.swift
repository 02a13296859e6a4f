import Foundation
import Logging

/// One line per event on stderr: `2026-11-25T20:25:03.123Z info bridge connected bridge=vmbr0 dpid=…`.
/// Millisecond UTC timestamps (journald and the benchmark line events up with OVS's own log), then the
/// level, the constant message, and the metadata sorted by key.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted("\($0.value)"))" }.joined(separator: " ")
        let line = "\(Self.timestamp()) \(event.level) \(event.message)\(fields.isEmpty ? "" : " " + fields)\n"
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }

    private func quoted(_ v: String) -> String {
        v.contains(" ") || v.isEmpty ? "\"\(v.replacingOccurrences(of: "\"", with: "\\\""))\"" : v
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
