#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Logging
import Policy

/// Watches policy paths and hands every changed reading to `onChange`: a valid policy set, or the
/// errors that make it invalid. It keeps no policy of its own: what is in force is the controller's.
///
/// Changes are noticed by inotify (on each directory, or on a file's parent directory) and by a
/// content comparison every `pollInterval` seconds, because Proxmox's cluster filesystem (/etc/pve)
/// delivers no inotify events for edits made on another node. Bursts are debounced into one reload.
public final class PolicyWatcher: @unchecked Sendable {
    /// One reading of the policy files after a change.
    public struct Reading: Sendable {
        public let result: Result<PolicySet, PolicyErrors>
        public let changedFiles: [String]
        /// What noticed it: "inotify", "poll" or the reason of a forced reload.
        public let trigger: String
        /// When the first event of the burst arrived (monotonic ns).
        public let detectedAt: UInt64
    }
    public typealias ChangeHandler = @Sendable (Reading) -> Void

    private let paths: [String]
    private let logger: Logger
    private let onChange: ChangeHandler
    private let queue = DispatchQueue(label: "sipspan.policy-watcher")
    private let debounce: DispatchTimeInterval
    private let pollInterval: Double
    private var inotifyFD: Int32 = -1
    private var inotifySource: DispatchSourceRead?
    private var pollTimer: DispatchSourceTimer?
    private var debounceTimer: DispatchSourceTimer?
    private var lastSeen: [String: FileContent] = [:]

    /// What a policy file held at a check: its bytes, or why it could not be read.
    enum FileContent: Equatable {
        case bytes([UInt8])
        case unreadable(PolicyErrors)

        static func == (a: FileContent, b: FileContent) -> Bool {
            switch (a, b) {
            case let (.bytes(x), .bytes(y)): return x == y
            case let (.unreadable(x), .unreadable(y)): return x.diagnostics == y.diagnostics
            default: return false
            }
        }
    }
    /// When the first event of the current burst arrived (monotonic ns).
    private var burstStarted: UInt64?

    public init(paths: [String], logger: Logger, debounceMilliseconds: Int = 30, pollInterval: Double = 1,
                onChange: @escaping ChangeHandler) {
        self.paths = paths; self.logger = logger; self.onChange = onChange
        self.debounce = .milliseconds(debounceMilliseconds); self.pollInterval = pollInterval
    }

    public func start() {
        queue.sync {
            lastSeen = snapshot()
            startInotify()
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + pollInterval, repeating: pollInterval, leeway: .milliseconds(50))
            t.setEventHandler { [weak self] in self?.check(trigger: "poll") }
            t.resume()
            pollTimer = t
        }
    }

    public func stop() {
        queue.sync {
            pollTimer?.cancel(); pollTimer = nil
            debounceTimer?.cancel(); debounceTimer = nil
            inotifySource?.cancel(); inotifySource = nil
        }
    }

    /// Reloads at once (SIGHUP), even if nothing seems to have changed.
    public func reloadNow(reason: String) {
        queue.async { [self] in
            lastSeen = [:]
            check(trigger: reason)
        }
    }

    private func startInotify() {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            logger.warning("inotify unavailable; relying on the periodic check", metadata: ["error": .string(String(describing: errno))])
            return
        }
        inotifyFD = fd
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        for p in paths {
            var isDir: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: p, isDirectory: &isDir)
            let isDirectory = exists && isDir.boolValue
            let dir = isDirectory ? p : (p as NSString).deletingLastPathComponent
            let wd = inotify_add_watch(fd, dir.isEmpty ? "." : dir, mask)
            guard wd >= 0 else { continue }
            // Two paths in one directory (a file and the directory, or two files): the directory wins.
            let watch: PolicyChangeFilter.Watch = isDirectory ? .directory : .parentOf(fileName: (p as NSString).lastPathComponent)
            if changeFilter.watches[wd] != .directory { changeFilter.watches[wd] = watch }
        }
        let s = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        s.setEventHandler { [weak self] in self?.drainInotify() }
        s.setCancelHandler { _ = Glibc.close(fd) }
        s.resume()
        inotifySource = s
    }

    private func drainInotify() {
        var relevant = false
        while true {
            let n = inotifyBuffer.withUnsafeMutableBytes { Glibc.read(inotifyFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            // Events of other files in a policy directory (a log written all the time) are not read.
            if !relevant { relevant = changeFilter.isRelevant(inotifyBuffer[0..<n]) }
        }
        if relevant { scheduleCheck() }
    }
    private var inotifyBuffer = [UInt8](repeating: 0, count: 16 * 1024)
    private var changeFilter = PolicyChangeFilter()

    private func scheduleCheck() {
        let now = monotonicNow()
        if burstStarted == nil { burstStarted = now }
        // A burst postpones the reading by `debounce` per event, but by no more than the poll
        // interval in all: an endless burst is still read.
        if debounceTimer != nil, let started = burstStarted, now - started > UInt64(pollInterval * 1e9) { return }
        debounceTimer?.cancel()
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + debounce)
        t.setEventHandler { [weak self] in
            self?.debounceTimer = nil
            self?.check(trigger: "inotify")
        }
        t.resume()
        debounceTimer = t
    }

    /// Every policy file under `paths` with its bytes (bounded by the parser's size limit) or the
    /// reason it cannot be read (an unreadable file is an error, never an empty policy).
    private func snapshot() -> [String: FileContent] {
        var result: [String: FileContent] = [:]
        for p in paths {
            let files: [String]
            do {
                files = try PolicyLoader.files(at: p)
            } catch let e as PolicyErrors {
                // A directory that cannot be listed (out of descriptors, permissions) is an error, not
                // an empty policy: the last valid one stays in force.
                result[p] = .unreadable(e); continue
            } catch {
                result[p] = .unreadable(PolicyErrors([Diagnostic(.error, SourceLocation(file: p, line: 1, column: 1), "cannot read \(p): \(error)")])); continue
            }
            for f in files {
                do {
                    result[f] = .bytes(try PolicyLoader.read(file: f))
                } catch let e as PolicyErrors {
                    result[f] = .unreadable(e)
                } catch {
                    result[f] = .unreadable(PolicyErrors([Diagnostic(.error, SourceLocation(file: f, line: 1, column: 1), "cannot read \(f): \(error)")]))
                }
            }
        }
        return result
    }

    private func check(trigger: String) {
        let detectedAt = burstStarted ?? monotonicNow()
        burstStarted = nil
        let now = snapshot()
        guard now != lastSeen else { return }
        let changed = Set(now.keys).union(lastSeen.keys).filter { now[$0] != lastSeen[$0] }.sorted()
        lastSeen = now
        // A path that is missing or cannot be listed is in `now` as unreadable (once, with the loader's words).
        var unreadable: [Diagnostic] = []
        var contents: [(file: String, bytes: [UInt8])] = []
        for (file, content) in now.sorted(by: { $0.key < $1.key }) {
            switch content {
            case let .bytes(b): contents.append((file, b))
            case let .unreadable(e): unreadable += e.diagnostics
            }
        }
        let result = unreadable.isEmpty ? PolicyLoader.load(contents: contents) : .failure(PolicyErrors(unreadable))
        onChange(Reading(result: result, changedFiles: changed, trigger: trigger, detectedAt: detectedAt))
    }
}
