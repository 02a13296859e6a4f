import FlowPlanning
import OpenFlow

/// What a switch session reacts to.
public enum SessionInput: Sendable {
    /// The connection is open: send HELLO and the pipelined first requests.
    case connected
    /// One whole OpenFlow frame from the switch (decoded by the session).
    case frame([UInt8])
    /// About once a second: keepalive, timeouts, audits.
    case tick
    /// The policy (or what else the plan depends on) changed; `reload` names the change for confirmation.
    case planChanged(reload: Int)
    /// The reconcile the session asked for with `.scheduleReconcile` is due (after a burst of events).
    case reconcileDue
    /// The controller's role changed (in the context): request it, and write if now master.
    case roleChanged
    /// The runtime opened the media feed the session announced, or could not, or lost it (`detail`).
    case mediaFeed(MediaFeedPort, opened: Bool, detail: String)
    /// A frame read from the media feed port.
    case feedFrame([UInt8])
}

/// Why a session's flows are being reconciled.
public enum ReconcileReason: Hashable, Sendable, CustomStringConvertible {
    case connect
    case audit
    case planChanged
    case portsChanged(first: String, more: Bool)
    case macLearned(MACAddress, port: String)

    public var description: String {
        switch self {
        case .connect: return "connect"
        case .audit: return "audit"
        case .planChanged: return "policy"
        case let .portsChanged(first, more): return "port \(first)" + (more ? " …" : "")
        case let .macLearned(mac, port): return "MAC \(mac) on \(port)"
        }
    }
}

/// Why a session closes its connection.
public struct CloseReason: Hashable, Sendable, CustomStringConvertible {
    /// The kind, for metrics and log rate limits.
    public enum Kind: String, Hashable, Sendable {
        case malformedMessage, unexpectedMessage, versionMismatch, auxiliaryConnection
        case handshakeTimeout, syncTimeout, barrierTimeout, deadPeer
        case tooManyPorts, replyTooLarge
        case datapathInUse, replaced, stopping, peerClosed, ioError, notReading
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) { self.kind = kind; self.detail = detail }

    public var description: String { detail }

    /// Closes caused by the peer misbehaving or failing to answer (counted as bad peers before the handshake).
    public var isPeerFault: Bool { ![.stopping, .replaced, .peerClosed].contains(kind) }
}

/// A log line the session wants written: constant message, data in fields.
public struct LogLine: Hashable, Sendable {
    public enum Level: Int, Comparable, Sendable {
        case trace, debug, info, notice, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }
    public let level: Level
    public let message: String
    public let fields: [String: String]

    public init(_ level: Level, _ message: String, _ fields: [String: String] = [:]) {
        self.level = level; self.message = message; self.fields = fields
    }
}

/// One message to send with the xid the session chose for it.
public struct OutgoingMessage: Hashable, Sendable {
    public let xid: UInt32
    public let message: Message
}

/// A confirmed change: the barrier that ended it was answered.
public struct AppliedChange: Hashable, Sendable {
    public let reason: ReconcileReason
    public let added: Int
    public let removed: Int
    public let reload: Int?
    public let started: UInt64
    public let confirmed: UInt64
}

/// What the runtime must do for the session, in order.
public enum SessionAction: Hashable, Sendable {
    /// Write these messages (encoded back to back, one write).
    case send([OutgoingMessage])
    /// Close the connection (after flushing what was queued).
    case close(CloseReason)
    case log(LogLine)
    /// The switch said which datapath it is: the runtime applies `DatapathClaim` against any other
    /// connection holding it and closes one of the two.
    case claimDatapath(UInt64)
    /// The first sync is complete: the bridge is served.
    case ready
    /// The bridge holds its complete flow set for the first time on this connection.
    case confirmed
    /// A change was barrier-confirmed.
    case applied(AppliedChange)
    /// A change went out (flow_mods and a barrier); `.applied` follows when the barrier is answered.
    case changeSent(added: Int, removed: Int, reload: Int?)
    /// Feed `.reconcileDue` once every message already read has been handled.
    case scheduleReconcile
    /// The switch reported an error.
    case switchError(type: UInt16, code: UInt16)
    /// A guest MAC was learned from a PACKET_IN.
    case macLearned
    /// Read this port as the media feed (nil: stop reading any); answer with `.mediaFeed`.
    case watchMediaFeed(MediaFeedPort?)
}
