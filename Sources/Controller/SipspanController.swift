#if canImport(Glibc)
import Glibc
#endif
import ControllerCore
import Dispatch
import FlowPlanning
import Foundation
import Logging
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// Monotonic nanoseconds: the only clock the controller core sees.
public func monotonicNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Wall-clock milliseconds since 1970: OpenFlow role generation ids, ordered across instances.
public func wallClockMilliseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(max(0, ts.tv_sec)) * 1000 + UInt64(max(0, ts.tv_nsec)) / 1_000_000
}

/// The controller's runtime: listeners, one `Connection` per switch, the one-second timer, and the
/// execution of what `ControllerCore` decides. It makes no decision of its own.
///
/// Everything runs on one serial queue; sockets are Dispatch sources on it, so no state is shared
/// across threads. Public methods may be called from any thread: they hop onto the queue.
public final class SipspanController: @unchecked Sendable {
    public let logger: Logger
    /// Prometheus metrics, updated on the controller's queue.
    public let metrics = ControllerMetrics()
    private let queue = DispatchQueue(label: "sipspan.controller")
    private var core: ControllerCore
    private var listeners: [Listener] = []
    private var connections: [ConnectionID: Connection] = [:]
    /// The media feed each connection's bridge has on this node, if any (`MediaFeedSocket`).
    private var feeds: [ConnectionID: MediaFeedSocket] = [:]
    private var timer: DispatchSourceTimer?

    /// How long a connection's output may wait for more to join its write (serve --write-hold-us).
    public var writeHoldMicroseconds = 0

    public init(core: ControllerCore, logger: Logger) {
        var core = core
        core.logFlowChanges = logger.logLevel <= .debug
        self.core = core
        self.logger = logger
    }

    /// Starts listening on every address; `ssl:` needs `tls`. Returns the bound addresses.
    @discardableResult
    public func start(listen addresses: [ListenAddress], tls: TLSConfiguration? = nil) throws -> [String] {
        // A write to a peer that reset must fail with EPIPE, not kill the process: OpenSSL writes to
        // its sockets without MSG_NOSIGNAL.
        signal(SIGPIPE, SIG_IGN)
        return try queue.sync {
            var tlsContext: TLSContext? = nil
            for listen in addresses {
                var context: TLSContext? = nil
                if case .ssl = listen {
                    if tlsContext == nil {
                        guard let tls else { throw TLSError(description: "\(listen) needs --tls-key, --tls-cert and --tls-ca") }
                        tlsContext = try TLSContext(tls)
                    }
                    context = tlsContext
                }
                let l = try Listener(listen, queue: queue) { [unowned self] fd, peer in
                    guard let context else { return self.accepted(TCPTransport(fd: fd), peer: peer) }
                    do {
                        self.accepted(try TLSTransport(fd: fd, context: context), peer: peer)
                    } catch {
                        _ = Glibc.close(fd)
                        self.run(self.core.tlsSetupFailed(peer: peer, error: "\(error)", now: monotonicNow()))
                    }
                }
                l.onPause = { [unowned self] error, seconds in
                    self.run(self.core.acceptPaused(error: String(cString: strerror(error)), seconds: seconds, now: monotonicNow()))
                }
                listeners.append(l)
                logger.info("listening", metadata: ["address": .string(listen.isTLS ? "ssl:" + l.address : l.address)])
            }
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(100))
            t.setEventHandler { [unowned self] in
                for feed in self.feeds.values {
                    let dropped = feed.takeDrops()
                    if dropped > 0 { self.metrics.mediaFeedDrops.increment(by: Int64(dropped)) }
                }
                self.run(self.core.tick(now: monotonicNow()))
            }
            t.resume()
            timer = t
            let bound = zip(addresses, listeners).map { $0.isTLS ? "ssl:" + $1.address : $1.address }
            core.listening(on: bound)
            return bound
        }
    }

    private func accepted(_ transport: Transport, peer: PeerAddress) {
        let (admitted, actions) = core.accept(peer: peer, now: monotonicNow())
        run(actions)
        guard let id = admitted else { return transport.close() }
        let connection = Connection(transport: transport, peer: peer.description, queue: queue)
        if writeHoldMicroseconds > 0 { connection.writeHold = .microseconds(writeHoldMicroseconds) }
        connections[id] = connection
        var certificateReported = false
        connection.onFrame = { [unowned self, unowned connection] frame in
            // Application data arrives only after the TLS handshake: the certificate is known by now.
            if !certificateReported {
                certificateReported = true
                self.core.certificateVerified(id, commonName: connection.peerCommonName)
            }
            self.input(id, .frame(frame))
        }
        connection.onClose = { [unowned self] reason in
            self.connections[id] = nil
            self.feeds.removeValue(forKey: id)?.close()
            self.run(self.core.closed(id, reason: reason, now: monotonicNow()))
        }
        connection.start()
        input(id, .connected)
    }

    private func input(_ id: ConnectionID, _ input: SessionInput) {
        run(core.handle(id, input, now: monotonicNow()))
    }

    /// Carries out the core's actions, in order.
    private func run(_ actions: [ControllerAction]) {
        for action in actions {
            switch action {
            case let .send(id, messages):
                guard let c = connections[id] else { continue }
                var w = ByteWriter(capacity: 256 * messages.count)
                for m in messages { m.message.encode(xid: m.xid, into: &w) }
                c.send(w.bytes)
            case let .close(id, reason):
                if let c = connections[id] { c.close(reason) }
            case let .log(line):
                log(line)
            case let .count(counter, n):
                metrics.counter(counter).increment(by: Int64(n))
            case let .bridgesConnected(n):
                metrics.bridgesConnected.set(Int64(n))
            case let .changeConfirmed(seconds):
                metrics.changeSeconds.record(seconds)
            case let .scheduleReconcile(id):
                queue.async { [weak self] in self?.input(id, .reconcileDue) }
            case let .watchMediaFeed(id, candidate):
                watchMediaFeed(id, candidate)
            }
        }
    }

    /// Replaces the connection's media feed with a socket on `candidate`, and reports the outcome.
    private func watchMediaFeed(_ id: ConnectionID, _ candidate: MediaFeedPort?) {
        feeds.removeValue(forKey: id)?.close()
        guard let candidate, connections[id] != nil else { return }
        let result: SessionInput
        do {
            let feed = try MediaFeedSocket(candidate, queue: queue)
            feed.onFrame = { [unowned self] frame in self.input(id, .feedFrame(frame)) }
            // The flow_mods of one batch of frames go out in one write.
            feed.deliver = { [unowned self] body in
                if let c = self.connections[id] { c.batchingWrites(body) } else { body() }
            }
            feed.onFailure = { [unowned self] why in
                self.feeds[id] = nil
                self.input(id, .mediaFeed(candidate, opened: false, detail: why))
            }
            feeds[id] = feed
            result = .mediaFeed(candidate, opened: true, detail: "raw socket on interface \(candidate.name)")
        } catch {
            result = .mediaFeed(candidate, opened: false, detail: "\(error)")
        }
        queue.async { [weak self] in self?.input(id, result) }
    }

    private func log(_ line: LogLine) {
        let level = Logger.Level(line.level)
        guard logger.logLevel <= level else { return }
        logger.log(level: level, "\(line.message)", metadata: line.fields.mapValues { .string($0) })
    }

    /// A valid policy was read: put it in force (nothing happens when it equals the one in force).
    public func apply(policy: PolicySet, changedFiles: [String], trigger: String, detectedAt: UInt64) {
        queue.async { [self] in run(core.apply(policy: policy, changedFiles: changedFiles, trigger: trigger, detectedAt: detectedAt, now: monotonicNow())) }
    }

    /// An edit made the policy invalid: logged; nothing changes.
    public func reject(policy errors: PolicyErrors, changedFiles: [String], trigger: String, pmxcfsUnmounted: Bool) {
        queue.async { [self] in run(core.reject(policy: errors, changedFiles: changedFiles, trigger: trigger, pmxcfsUnmounted: pmxcfsUnmounted)) }
    }

    /// The inventory files changed: the core parses them and puts a changed view in force.
    public func apply(inventoryFiles files: [String: [UInt8]]?, readProblems: [Diagnostic], changedFiles: [String], root: String, detectedAt: UInt64) {
        queue.async { [self] in
            run(core.apply(inventoryFiles: files, readProblems: readProblems, changedFiles: changedFiles, root: root, detectedAt: detectedAt, now: monotonicNow()))
        }
    }

    /// Takes another OpenFlow role on every bridge (a standby taking over or handing back).
    public func setRole(_ role: ControllerRole, reason: String) {
        queue.async { [self] in run(core.setRole(role, reason: reason, now: monotonicNow())) }
    }

    /// Records a status endpoint being served (shown in `status`).
    public func serving(statusEndpoint address: String) { queue.async { [self] in core.serving(statusEndpoint: address) } }

    /// Logs the warnings about the policy in force against the cluster (at start).
    public func logWarnings() { queue.async { [self] in run(core.logWarnings()) } }

    /// Stops listening and closes every connection. Installed flows stay in the switches.
    public func stop() {
        queue.sync {
            timer?.cancel(); timer = nil
            for l in listeners { l.stop() }
            listeners = []
            for f in feeds.values { f.close() }
            feeds = [:]
            run(core.stop())
        }
    }

    /// A snapshot of every bridge, for `sipspan status` and metrics.
    public func status() -> ControllerStatus { queue.sync { core.status(now: monotonicNow()) } }

    /// What applying `set` would change on each bridge; nothing is applied.
    public func preview(_ set: PolicySet) -> PlanPreview { queue.sync { core.preview(set) } }

    /// The Prometheus text: the registered metrics, then the per-bridge and per-guest series.
    public func metricsExposition() -> [UInt8] { metrics.exposition() + BridgeMetrics.exposition(status()) }
}

extension Logger.Level {
    init(_ level: LogLine.Level) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        }
    }
}
