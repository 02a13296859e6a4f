// What the benchmarks measure with: the calling thread's CPU time, and medians of runs.
#if canImport(Glibc)
import Glibc
#endif

/// CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID): unaffected by other processes.
public func cpuNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The median of `xs` (0 for none).
public func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
