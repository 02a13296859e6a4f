/// Edit distance between two short strings (keys) counting an adjacent transposition as one edit
/// (optimal string alignment), for "did you mean" suggestions: `wacth` → `watch`, `upd` → `udp`.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased().prefix(64)), b = Array(b.lowercased().prefix(64))
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

/// The closest candidate within a small edit distance, if any.
func suggestion(for word: String, among candidates: [String]) -> String? {
    let limit = max(1, min(2, word.count / 2))
    return candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }.min { $0.1 < $1.1 }?.0
}
