import RateLimit
import SwitchProtocol

/// What a rate-limited log line is about: lines of one key share one budget.
public enum LogLimitKey: Hashable, Sendable {
    case tooManyConnections
    case tlsSetupFailed
    case acceptFailed
    case datapathClaimRefused(UInt64)
    case connectionClosed(CloseReason.Kind)
    case switchError(UInt64)
}

/// Limits log lines per key, counting what it suppressed.
public struct LogLimiter: Sendable {
    private var buckets: [LogLimitKey: TokenBucket] = [:]
    private var suppressed: [LogLimitKey: Int] = [:]

    public init() {}

    /// Whether a line for `key` may be logged now; if so, how many were suppressed before it.
    public mutating func allow(_ key: LogLimitKey, now: UInt64) -> (Bool, Int) {
        if buckets.count > 1000 { buckets.removeAll(); suppressed.removeAll() }
        var b = buckets[key] ?? TokenBucket(perSecond: 1, burst: 10, now: now)
        let ok = b.take(now: now)
        buckets[key] = b
        if ok {
            let n = suppressed.removeValue(forKey: key) ?? 0
            return (true, n)
        }
        suppressed[key, default: 0] += 1
        return (false, 0)
    }
}
