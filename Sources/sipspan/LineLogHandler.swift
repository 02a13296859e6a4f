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
        Self.writeAll(Array(line.utf8))
        Self.lock.unlock()
    }

    /// One write(2) per line on stderr (retried when short or interrupted), no buffering to lose.
    private static func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(2, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// Quoted (with `"` escaped) when empty or holding a space; the common case scans bytes only
    /// (Foundation's `contains` and `replacingOccurrences` were a visible cost per line under load).
    private func quoted(_ v: String) -> String {
        guard v.isEmpty || v.utf8.contains(UInt8(ascii: " ")) else { return v }
        var out = "\""
        for c in v.unicodeScalars {
            if c == "\"" { out += "\\\"" } else { out.unicodeScalars.append(c) }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        // Digits by hand: String(format:) goes through Foundation's formatter, a measurable cost per line.
        var out = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int, at: Int, width: Int) {
            var v = value
            for i in stride(from: at + width - 1, through: at, by: -1) { out[i] = UInt8(48 + v % 10); v /= 10 }
        }
        put(Int(tm.tm_year) + 1900, at: 0, width: 4); out[4] = 45
        put(Int(tm.tm_mon) + 1, at: 5, width: 2); out[7] = 45
        put(Int(tm.tm_mday), at: 8, width: 2); out[10] = 84
        put(Int(tm.tm_hour), at: 11, width: 2); out[13] = 58
        put(Int(tm.tm_min), at: 14, width: 2); out[16] = 58
        put(Int(tm.tm_sec), at: 17, width: 2); out[19] = 46
        put(Int(ts.tv_nsec / 1_000_000), at: 20, width: 3); out[23] = 90
        return String(decoding: out, as: UTF8.self)
    }
}
