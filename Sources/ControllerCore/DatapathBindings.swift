import Foundation

/// `--tls-datapath-bindings FILE`: lines `DPID COMMON_NAME` (16 hex digits, or 0x…), `#` comments.
public enum DatapathBindings {
    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    public static func parse(_ text: String, file: String) throws -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: " ", maxSplits: 1)
            let hex = parts[0].hasPrefix("0x") ? parts[0].dropFirst(2) : parts[0]
            guard parts.count == 2, hex.count <= 16, let dpid = UInt64(hex, radix: 16) else {
                throw Invalid(description: "\(file):\(i + 1):1: error: expected 'DPID COMMON_NAME'")
            }
            out[dpid] = String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        return out
    }
}
