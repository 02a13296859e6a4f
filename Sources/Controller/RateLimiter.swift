/// A token bucket: at most `burst` events at once, refilled at `perSecond`.
struct TokenBucket {
    let perSecond: Double
    let burst: Double
    private var tokens: Double
    private var last: UInt64

    init(perSecond: Double, burst: Double, now: UInt64) {
        self.perSecond = perSecond; self.burst = burst; self.tokens = burst; self.last = now
    }

    /// Takes one token if there is one. `now` is in nanoseconds.
    mutating func take(now: UInt64) -> Bool {
        if now > last {
            tokens = min(burst, tokens + Double(now - last) / 1e9 * perSecond)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Limits log lines per key (e.g. "bad peer"), counting what it suppressed.
struct LogLimiter {
    private var buckets: [String: TokenBucket] = [:]
    private var suppressed: [String: Int] = [:]

    /// Whether a line for `key` may be logged now; if so, how many were suppressed before it.
    mutating func allow(_ key: String, now: UInt64) -> (Bool, Int) {
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
