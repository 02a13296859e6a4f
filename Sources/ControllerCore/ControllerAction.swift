import FlowPlanning
import OpenFlow
import SwitchProtocol

/// A counter the runtime keeps in Prometheus.
public enum ControllerCounter: Hashable, Sendable, CaseIterable {
    case connects, disconnects, flowModsSent, changesApplied, switchErrors, badPeers, claimsRefused, macsLearned
    case reloadsApplied, reloadsRejected
}

/// What the runtime must do for the controller core, in order.
public enum ControllerAction: Hashable, Sendable {
    /// Write these messages to the connection (encoded back to back, one write).
    case send(ConnectionID, [OutgoingMessage])
    /// Close the connection; the runtime reports it back with `ControllerCore.closed`.
    case close(ConnectionID, CloseReason)
    /// Write a log line.
    case log(LogLine)
    /// Add to a counter.
    case count(ControllerCounter, by: Int)
    /// Set the gauge of bridges served.
    case bridgesConnected(Int)
    /// Record how long a change took from send to barrier reply, in seconds.
    case changeConfirmed(seconds: Double)
    /// Feed `.reconcileDue` to this connection once every message already read has been handled.
    case scheduleReconcile(ConnectionID)
    /// Read this port of the connection's bridge as its media feed, replacing any feed it had (nil:
    /// none); report with `.mediaFeed` (opened or not) and feed its frames as `.feedFrame`.
    case watchMediaFeed(ConnectionID, MediaFeedPort?)
}
