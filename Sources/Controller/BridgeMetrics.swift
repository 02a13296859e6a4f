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
        let media = ready.compactMap { b in b.media.map { (b, $0) } }
        func mediaFamily(_ name: String, _ type: String, _ help: String, _ value: (MediaStatus) -> Int) {
            family(name, type, help, media.map { ([("bridge", $0.0.displayName), ("node", $0.0.node ?? "")], value($0.1)) })
        }
        mediaFamily("sipspan_media_calls_active", "gauge", "Calls with per-call media copy flows on the bridge.") { $0.activeCalls }
        mediaFamily("sipspan_media_calls_tracked", "gauge", "Calls followed from their SIP (offer/answer pending or complete).") { $0.trackedCalls }
        mediaFamily("sipspan_media_flows", "gauge", "Per-call media flows of this sipspan's calls.") { $0.flows }
        mediaFamily("sipspan_media_adopted_flows", "gauge", "Per-call media flows of a previous sipspan, left to expire.") { $0.adoptedFlows }
        family("sipspan_media_guest_flows", "gauge", "Per-call media flows per watched NIC.",
               media.flatMap { b, m in m.flowsByNIC.sorted { $0.key < $1.key }.map { ([("bridge", b.displayName), ("nic", $0.key)], $0.value) } })
        mediaFamily("sipspan_media_calls_started_total", "counter", "Calls whose media copies started (since the bridge connected).") { $0.counters.callsStarted }
        mediaFamily("sipspan_media_calls_ended_total", "counter", "Calls whose media copies ended.") { $0.counters.callsEnded }
        mediaFamily("sipspan_media_calls_refused_total", "counter", "Calls given SIP copies only: a media flow budget used up, or the call table full.") {
            $0.counters.refusedBudget + $0.counters.refusedTable
        }
        mediaFamily("sipspan_media_packet_ins_total", "counter", "SIP frames received from the copy flows (PACKET_IN).") { $0.counters.packetIns }
        mediaFamily("sipspan_media_feed_frames_total", "counter", "SIP frames read from the media feed port (instead of PACKET_IN).") { $0.counters.fedFrames }
        mediaFamily("sipspan_media_feed_active", "gauge", "1 when the bridge's media NICs' SIP is read from a media feed port, 0 for PACKET_IN.") { $0.feed == nil ? 0 : 1 }
        mediaFamily("sipspan_media_packet_ins_limited_total", "counter", "SIP frames (PACKET_IN or feed) dropped by the rate limit.") { $0.counters.packetInsLimited }
        mediaFamily("sipspan_media_reordered_messages_total", "counter", "SIP messages that reached sipspan before one they follow (a 200 OK before its INVITE: PACKET_INs reordered by the kernel datapath's upcall threads), held and applied after it.") { $0.counters.reorderedMessages }
        mediaFamily("sipspan_media_sdp_failures_total", "counter", "SDP bodies that did not parse (the call kept what it had).") { $0.counters.sdpFailures }
        family("sipspan_warnings", "gauge", "Warnings about the policy against the cluster (see sipspan status).",
               [([], status.warnings.count)])
        return Array(out.utf8)
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
