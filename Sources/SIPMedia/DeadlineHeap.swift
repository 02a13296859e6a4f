/// A binary min-heap of call deadlines: the call table's expiry order, O(log n) per change, with no
/// scan per message. Entries are not removed when a call ends or is heard from again; the table
/// skips stale ones as they surface and rebuilds the heap when they outnumber the live ones.
struct DeadlineHeap: Sendable {
    struct Entry: Sendable {
        let deadline: UInt64
        let serial: UInt64
        let callID: String
    }

    private var entries: [Entry] = []

    var count: Int { entries.count }
    /// The entry with the earliest deadline.
    var first: Entry? { entries.first }

    mutating func push(_ e: Entry) {
        entries.append(e)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(entries[child], entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        guard !entries.isEmpty else { return }
        entries.swapAt(0, entries.count - 1)
        entries.removeLast()
        siftDown(0)
    }

    /// Replaces the contents (O(n)).
    mutating func rebuild(_ all: [Entry]) {
        entries = all
        for i in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { return }
            var child = left
            if left + 1 < entries.count, Self.before(entries[left + 1], entries[left]) { child = left + 1 }
            guard Self.before(entries[child], entries[parent]) else { return }
            entries.swapAt(child, parent)
            parent = child
        }
    }

    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        (a.deadline, a.serial) < (b.deadline, b.serial)
    }
}
