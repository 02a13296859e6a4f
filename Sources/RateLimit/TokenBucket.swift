/// A token bucket: at most `burst` events at once, refilled at `perSecond`.
public struct TokenBucket: Hashable, Sendable {
    public let perSecond: Double
    public let burst: Double
    private var tokens: Double
    private var last: UInt64

    public init(perSecond: Double, burst: Double, now: UInt64) {
        self.perSecond = perSecond; self.burst = burst; self.tokens = burst; self.last = now
    }

    /// Takes one token if there is one. `now` is in nanoseconds.
    public mutating func take(now: UInt64) -> Bool {
        if now > last {
            tokens = min(burst, tokens + Double(now - last) / 1e9 * perSecond)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
