import ControllerCore

/// Per-bridge and per-guest Prometheus series, rendered from a status snapshot at each scrape (their
/// label sets come and go with bridges and guests, which fixed registrations cannot follow).
enum BridgeMetrics {
    /// `bridge` is `node/bridge` when the node is known; `guest` is `101 (sip-proxy-1)`.
    static func exposition(_ status: ControllerStatus) -> [UInt8] {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = s.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += "\(name){\(labels)} \(s.value)\n"
            }
        }
        let ready = status.bridges.filter { $0.state == .ready }
        family("sipspan_bridge_flows", "gauge", "sipspan's flows installed on each connected bridge.",
               ready.map { ([("bridge", $0.displayName), ("node", $0.node ?? "")], $0.flows) })
        family("sipspan_bridge_watched_nics", "gauge", "Watched NICs present on each connected bridge.",
               ready.map { ([("bridge", $0.displayName), ("node", $0.node ?? "")], $0.watchedPorts.count) })
        family("sipspan_guest_watched", "gauge", "1 for each guest whose SIP is copied on a bridge.",
               ready.flatMap { b in b.watchedGuests.map { ([("bridge", b.displayName), ("guest", $0)], 1) } })
        family("sipspan_guest_copied_frames_total", "counter", "Frames copied per watched guest and bridge (flow counters as of the last sync or audit; restart when flows are re-added).",
               ready.flatMap { b in b.copiedFrames.sorted { $0.key < $1.key }.map { ([("bridge", b.displayName), ("guest", $0.key)], $0.value) } })
        family("sipspan_warnings", "gauge", "Warnings about the policy against the cluster (see sipspan status).",
               [([], status.warnings.count)])
        return Array(out.utf8)
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
