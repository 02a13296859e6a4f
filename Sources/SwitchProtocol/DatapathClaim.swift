/// Who keeps a datapath id when a second connection claims it.
///
/// The established connection keeps its datapath while it answers: a newcomer claiming a live dpid is
/// refused (else any client knowing a dpid could keep the real bridge disconnected by reconnecting).
/// Only an incumbent that has left an echo request unanswered past `echoReplyTimeout` gives way: a
/// bridge whose old connection died silently (vswitchd killed, path lost) reconnects and is served.
public enum DatapathClaim: Equatable, Sendable {
    case keepIncumbent
    case replaceIncumbent

    /// - Parameters:
    ///   - echoOutstandingSince: when the incumbent's unanswered echo request was sent (nil: none outstanding).
    ///   - now: the current monotonic time (ns).
    public static func decide(echoOutstandingSince: UInt64?, now: UInt64, configuration: SessionConfiguration) -> DatapathClaim {
        guard let sent = echoOutstandingSince else { return .keepIncumbent }
        return seconds(from: sent, to: now) >= configuration.echoReplyTimeout ? .replaceIncumbent : .keepIncumbent
    }
}

/// Seconds between two monotonic nanosecond readings (0 when `end` precedes `start`).
public func seconds(from start: UInt64, to end: UInt64) -> Double {
    end > start ? Double(end - start) / 1e9 : 0
}
