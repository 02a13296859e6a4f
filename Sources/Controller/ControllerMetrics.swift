import ControllerCore
import Prometheus

/// sipspan's Prometheus metrics (served at /metrics by `StatusServer`).
public final class ControllerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let bridgesConnected: Gauge
    let connects: Counter
    let disconnects: Counter
    let flowModsSent: Counter
    let changesApplied: Counter
    let changeSeconds: ValueHistogram
    let switchErrors: Counter
    let badPeers: Counter
    let claimsRefused: Counter
    let macsLearned: Counter
    let reloadsApplied: Counter
    let reloadsRejected: Counter
    let mediaFeedDrops: Counter

    public init() {
        bridgesConnected = registry.makeGauge(name: "sipspan_bridges_connected", help: "Bridges with a completed OpenFlow handshake.")
        connects = registry.makeCounter(name: "sipspan_bridge_connects_total", help: "Bridge connections that completed the handshake.")
        disconnects = registry.makeCounter(name: "sipspan_bridge_disconnects_total", help: "Bridge connections lost after the handshake.")
        flowModsSent = registry.makeCounter(name: "sipspan_flow_mods_total", help: "FLOW_MOD messages sent.")
        changesApplied = registry.makeCounter(name: "sipspan_changes_confirmed_total", help: "Flow changes confirmed by a barrier reply.")
        changeSeconds = registry.makeValueHistogram(name: "sipspan_change_confirm_seconds", buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
                                                    help: "Time from sending a flow change to its barrier reply.")
        switchErrors = registry.makeCounter(name: "sipspan_switch_errors_total", help: "OFPT_ERROR messages received from switches.")
        badPeers = registry.makeCounter(name: "sipspan_bad_peers_total", help: "Connections closed for a protocol violation or timeout before the handshake.")
        claimsRefused = registry.makeCounter(name: "sipspan_datapath_claims_refused_total", help: "Connections refused because a live connection already serves their datapath id.")
        macsLearned = registry.makeCounter(name: "sipspan_guest_macs_learned_total", help: "Guest MAC addresses learned on watched NICs.")
        reloadsApplied = registry.makeCounter(name: "sipspan_policy_reloads_total", labels: [("result", "applied")], help: "Policy reloads.")
        reloadsRejected = registry.makeCounter(name: "sipspan_policy_reloads_total", labels: [("result", "rejected")], help: "Policy reloads.")
        mediaFeedDrops = registry.makeCounter(name: "sipspan_media_feed_drops_total", help: "Frames of media feed ports the kernel dropped (sipspan's receive buffer was full).")
    }

    /// The registered counter for a core's counter.
    func counter(_ c: ControllerCounter) -> Counter {
        switch c {
        case .connects: return connects
        case .disconnects: return disconnects
        case .flowModsSent: return flowModsSent
        case .changesApplied: return changesApplied
        case .switchErrors: return switchErrors
        case .badPeers: return badPeers
        case .claimsRefused: return claimsRefused
        case .macsLearned: return macsLearned
        case .reloadsApplied: return reloadsApplied
        case .reloadsRejected: return reloadsRejected
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
