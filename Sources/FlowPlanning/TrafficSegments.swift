import Policy

/// The port ranges of every traffic class in force, cut where any class starts or ends: each
/// segment is covered by the same classes throughout, so a port's copies are one set per segment
/// and overlapping classes of different sessions never make two flows compete for a frame.
struct TrafficSegments {
    /// Per protocol, disjoint ranges in order.
    var ranges: [TrafficClass.L4: [(first: UInt16, last: UInt16)]] = [:]

    init(_ classes: [TrafficClass]) {
        for proto in TrafficClass.L4.allCases {
            let mine = classes.filter { $0.proto == proto }
            var cuts = Set<UInt32>()
            for t in mine { cuts.insert(UInt32(t.first)); cuts.insert(UInt32(t.last) + 1) }
            let sorted = cuts.sorted()
            var out: [(UInt16, UInt16)] = []
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                let first = UInt16(a), last = UInt16(b - 1)
                if mine.contains(where: { $0.first <= first && last <= $0.last }) { out.append((first, last)) }
            }
            if !out.isEmpty { ranges[proto] = out }
        }
    }

    /// Indices of the segments inside `t`.
    func indices(of t: TrafficClass) -> [Int] {
        (ranges[t.proto] ?? []).indices.filter { i in ranges[t.proto].map { $0[i].first >= t.first && $0[i].last <= t.last } ?? false }
    }

    /// Runs of adjacent segments with the same non-empty set: (first port, last port, set).
    func runs(_ proto: TrafficClass.L4, _ sets: [Int: Set<DeliveryTarget>]) -> [(UInt16, UInt16, Set<DeliveryTarget>)] {
        let list = ranges[proto] ?? []
        var out: [(UInt16, UInt16, Set<DeliveryTarget>)] = []
        for i in sets.keys.sorted() where i < list.count {
            guard let set = sets[i], !set.isEmpty else { continue }
            if let last = out.last, last.2 == set, Int(last.1) + 1 == Int(list[i].first) {
                out[out.count - 1].1 = list[i].last
            } else {
                out.append((list[i].first, list[i].last, set))
            }
        }
        return out
    }
}
