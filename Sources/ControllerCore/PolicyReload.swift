/// A policy or inventory change being applied: which bridges still owe a barrier reply.
struct PolicyReload: Sendable {
    enum Kind: Sendable { case policy, inventory }
    let kind: Kind
    let reason: String
    let detectedAt: UInt64
    var pending = Set<ConnectionID>()
    var added = 0, removed = 0, bridges = 0, lost = 0
}
