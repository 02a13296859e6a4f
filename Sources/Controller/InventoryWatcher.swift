import Dispatch
import Logging
import Policy
import ProxmoxInventory

/// Re-reads the Proxmox inventory (`/etc/pve`) every `pollInterval` seconds and hands every changed
/// view to `onChange`. pmxcfs delivers no inotify events for edits made on other nodes, so the files'
/// contents are compared. A config that cannot be parsed is logged once (FILE:LINE) and the last good
/// view of that guest is kept.
public final class InventoryWatcher: @unchecked Sendable {
    public typealias ChangeHandler = @Sendable (_ inventory: Inventory, _ detectedAt: UInt64) -> Void

    private let root: String
    private let logger: Logger
    private let onChange: ChangeHandler
    private let pollInterval: Double
    private let queue = DispatchQueue(label: "sipspan.inventory-watcher")
    private var timer: DispatchSourceTimer?
    private var lastFiles: [String: [UInt8]] = [:]
    private var lastProblems: Set<Diagnostic> = []
    private var lastReadProblems: Set<Diagnostic> = []
    public private(set) var current: Inventory

    public init(root: String, initial: Inventory, initialFiles: [String: [UInt8]], pollInterval: Double = 1, logger: Logger, onChange: @escaping ChangeHandler) {
        self.root = root; self.current = initial; self.lastFiles = initialFiles; self.logger = logger
        self.pollInterval = pollInterval; self.onChange = onChange
    }

    /// Reads the tree once: the inventory and the files it came from, logging what cannot be used.
    public static func initialLoad(root: String, logger: Logger) -> (Inventory, [String: [UInt8]]) {
        let (files, readProblems) = InventoryReader.read(root: root)
        let r = InventoryLoader.load(files: files, root: root)
        for d in readProblems + r.diagnostics { logger.warning("\(d.description)") }
        logger.info("inventory loaded", metadata: [
            "pve": .string(root), "guests": .stringConvertible(r.inventory.guests.count), "nodes": .stringConvertible(r.inventory.nodes.count),
            "local_node": .string(r.inventory.localNode ?? "?"),
        ])
        return (r.inventory, files)
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
        guard files != lastFiles || Set(readProblems) != lastReadProblems else { return }
        lastReadProblems = Set(readProblems)
        let changed = Set(files.keys).union(lastFiles.keys).filter { files[$0] != lastFiles[$0] }.sorted()
        lastFiles = files
        let r = InventoryLoader.load(files: files, root: root, previous: current)
        let problems = Set(readProblems + r.diagnostics)
        for d in problems.subtracting(lastProblems).sorted() {
            logger.warning("\(d.description)", metadata: ["note": .string("the last good view of that guest stays in force")])
        }
        lastProblems = problems
        guard r.inventory != current else { return }
        current = r.inventory
        logger.info("inventory changed", metadata: [
            "files": .string(changed.prefix(5).joined(separator: ",") + (changed.count > 5 ? ",…" : "")),
            "guests": .stringConvertible(r.inventory.guests.count),
        ])
        onChange(r.inventory, detectedAt)
    }
}
