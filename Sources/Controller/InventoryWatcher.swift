import Dispatch
import Logging
import Policy
import ProxmoxInventory

/// Re-reads the Proxmox inventory files (`/etc/pve`) every `pollInterval` seconds and hands every
/// check to `onCheck`: the files when they changed, nil when they did not. pmxcfs delivers no inotify events for edits made on other nodes,
/// so the files' contents are compared. It keeps no inventory of its own: the controller parses the
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
    private var lastFiles: [String: [UInt8]]
    private var lastReadProblems: Set<Diagnostic>

    /// `initial` is the reading the controller started with.
    public init(root: String, initial: InventoryReading, pollInterval: Double = 1, onChange: @escaping ChangeHandler) {
        self.root = root; self.lastFiles = initial.files; self.lastReadProblems = Set(initial.readProblems)
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
        let (files, readProblems) = InventoryReader.read(root: root)
        guard files != lastFiles || Set(readProblems) != lastReadProblems else {
            return onChange(Reading(files: nil, readProblems: [], changedFiles: [], detectedAt: detectedAt))
        }
        let changed = Set(files.keys).union(lastFiles.keys).filter { files[$0] != lastFiles[$0] }.sorted()
        lastFiles = files
        lastReadProblems = Set(readProblems)
        onChange(Reading(files: files, readProblems: readProblems, changedFiles: changed, detectedAt: detectedAt))
    }
}

/// The inventory as first read at start, with the files it came from.
public struct InventoryReading: Sendable {
    public let files: [String: [UInt8]]
    public let readProblems: [Diagnostic]
    public let inventory: Inventory
    /// Every problem found (read and parse), each logged once at start.
    public let problems: Set<Diagnostic>

    /// Reads the tree once, logging what cannot be used and a summary line.
    public static func initial(root: String, logger: Logger) -> InventoryReading {
        let (files, readProblems) = InventoryReader.read(root: root)
        let r = InventoryLoader.load(files: files, root: root)
        for d in readProblems + r.diagnostics { logger.warning("\(d.description)") }
        logger.info("inventory loaded", metadata: [
            "pve": .string(root), "guests": .stringConvertible(r.inventory.guests.count), "nodes": .stringConvertible(r.inventory.nodes.count),
            "local_node": .string(r.inventory.localNode ?? "?"),
        ])
        return InventoryReading(files: files, readProblems: readProblems, inventory: r.inventory, problems: Set(readProblems + r.diagnostics))
    }
}
