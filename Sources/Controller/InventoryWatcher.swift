import Dispatch
import Logging
import Policy
import ProxmoxInventory

/// Re-reads the Proxmox inventory files (`/etc/pve`) every `pollInterval` seconds and hands every
/// check to `onChange`: the files when they changed, nil when they did not. pmxcfs delivers no
/// inotify events for edits made on other nodes; its change counters (`.version`, `.vmlist`) say
/// what to re-read, so an unchanged check is one small read whatever the cluster's size. It keeps no inventory of its own: the controller parses the
/// files and owns the view in force.
public final class InventoryWatcher: @unchecked Sendable {
    /// One check of the tree.
    public struct Reading: Sendable {
        /// The files, when they differ from the previous check; nil when nothing changed.
        public let files: [String: [UInt8]]?
        public let readProblems: [Diagnostic]
        public let changedFiles: [String]
        public let detectedAt: UInt64
    }
    public typealias ChangeHandler = @Sendable (Reading) -> Void

    private let root: String
    private let onChange: ChangeHandler
    private let pollInterval: Double
    private let queue = DispatchQueue(label: "sipspan.inventory-watcher")
    private var timer: DispatchSourceTimer?
    private var snapshot: InventorySnapshot
    /// Files and directories read so far (for the benchmark and the status).
    public private(set) var reads = 0

    /// `initial` is the reading the controller started with.
    public init(root: String, initial: InventoryReading, pollInterval: Double = 1, onChange: @escaping ChangeHandler) {
        self.root = root; self.snapshot = initial.snapshot
        self.pollInterval = pollInterval; self.onChange = onChange
    }

    public func start() {
        queue.sync {
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + pollInterval, repeating: pollInterval, leeway: .milliseconds(50))
            t.setEventHandler { [weak self] in self?.check() }
            t.resume()
            timer = t
        }
    }

    public func stop() { queue.sync { timer?.cancel(); timer = nil } }

    private func check() {
        let detectedAt = monotonicNow()
        let previous = snapshot
        let changedAny: Bool
        (snapshot, changedAny) = InventoryReader.refresh(root: root, previous: previous, reads: &reads)
        guard changedAny else {
            return onChange(Reading(files: nil, readProblems: [], changedFiles: [], detectedAt: detectedAt))
        }
        let files = snapshot.files, old = previous.files
        let changed = Set(files.keys).union(old.keys).filter { files[$0] != old[$0] }.sorted()
        onChange(Reading(files: files, readProblems: snapshot.readProblems, changedFiles: changed, detectedAt: detectedAt))
    }
}

/// The inventory as first read at start, with the files it came from.
public struct InventoryReading: Sendable {
    public let snapshot: InventorySnapshot
    public var files: [String: [UInt8]] { snapshot.files }
    public let inventory: Inventory
    /// Every problem found (read and parse), each logged once at start.
    public let problems: Set<Diagnostic>

    /// Reads the tree once, logging what cannot be used and a summary line.
    public static func initial(root: String, logger: Logger) -> InventoryReading {
        var reads = 0
        let snapshot = InventoryReader.refresh(root: root, previous: nil, reads: &reads).snapshot
        let readProblems = snapshot.readProblems
        let r = InventoryLoader.load(files: snapshot.files, root: root)
        for d in readProblems + r.diagnostics { logger.warning("\(d.description)") }
        logger.info("inventory loaded", metadata: [
            "pve": .string(root), "guests": .stringConvertible(r.inventory.guests.count), "nodes": .stringConvertible(r.inventory.nodes.count),
            "local_node": .string(r.inventory.localNode ?? "?"),
        ])
        return InventoryReading(snapshot: snapshot, inventory: r.inventory, problems: Set(readProblems + r.diagnostics))
    }
}
