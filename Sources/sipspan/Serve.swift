import ArgumentParser
import Controller
import ControllerCore
import OpenFlow
import Dispatch
import Foundation
import Logging
import Policy
import ProxmoxInventory

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the OpenFlow 1.3 controller for every bridge that connects.")

    @Option(name: .long, help: "A policy file or a directory of *.yaml policy files (repeatable).")
    var policy: [String] = []

    @Option(name: .long, help: "Address to listen on for switches: [tcp:|ssl:]HOST:PORT (repeatable).")
    var listen: [String] = ["0.0.0.0:6653"]

    @Option(name: .long, help: "HOST:PORT or unix:/PATH for `sipspan status`, `sipspan plan` (local endpoints only) and Prometheus (GET /metrics); repeatable; 'off' to disable.")
    var status: [String] = ["127.0.0.1:9653"]

    @Option(name: .long, help: "PEM private key for ssl: listeners (e.g. ovs-pki's ctl-privkey.pem).")
    var tlsKey: String?

    @Option(name: .long, help: "PEM certificate (chain) for ssl: listeners (e.g. ctl-cert.pem).")
    var tlsCert: String?

    @Option(name: .long, help: "CA certificate that switch certificates must chain to (e.g. ovs-pki's switchca/cacert.pem).")
    var tlsCa: String?

    @Option(name: .long, help: "Access VLAN of the monitor NICs (frames tagged with it are never forwarded to them).")
    var monitorVlan: UInt16 = 4094

    @Option(name: .long, help: "Seconds between audits that re-read every bridge's flows and repair drift (0 = off).")
    var audit: Double = 60

    @Option(name: .long, help: "Seconds of silence before sipspan sends an echo request to a bridge.")
    var echoInterval: Double = 5

    @Option(name: .long, help: "Seconds of silence after which a bridge connection is considered dead and closed.")
    var deadPeerTimeout: Double = 15

    @Option(name: .long, help: "Seconds a new connection has to complete the OpenFlow handshake.")
    var handshakeTimeout: Double = 10

    @Option(name: .long, help: "Seconds a bridge has to answer a sync (port list, flows) or a barrier before it is disconnected.")
    var replyTimeout: Double = 10

    @Option(name: .long, help: "Connections held at once (bridges and peers in their handshake); keep the file limit (LimitNOFILE) above it.")
    var maxConnections: Int = 8192

    @Option(name: .long, help: "OpenFlow role for a central pair: 'primary' (master of every bridge), 'standby' (slave: reads, never writes, takes over when --primary-status stops answering), or 'equal' (default: no role request).")
    var role: ServeRole = .equal

    @Option(name: .long, help: "A standby's way to the primary: its --status address (HOST:PORT or unix:/PATH).")
    var primaryStatus: String?

    @Option(name: .long, help: "Seconds without an answer from --primary-status after which the standby becomes master.")
    var takeoverAfter: Double = 3

    @Flag(name: .long, help: "Send changes as plain flow_mods instead of atomic OpenFlow bundles (a switch without bundles is detected and served so anyway).")
    var plainFlowMods = false

    @Option(name: .long, help: ArgumentHelp("The flow layout written into cookies (tests of rolling upgrades).", visibility: .hidden))
    var flowLayout: UInt8?

    @Option(name: .long, help: "Seconds of media silence after which OVS removes a call's media flows (their OpenFlow idle timeout; policies with 'media:').")
    var mediaIdleTimeout: Int = 60

    @Option(name: .long, help: "Per-call media flows allowed per bridge; past it new calls get SIP copies only.")
    var mediaFlowsPerBridge: Int = 20_000

    @Option(name: .long, help: "Per-call media flows allowed per watched NIC; past it its new calls get SIP copies only.")
    var mediaFlowsPerNic: Int = 4_000

    @Option(name: .long, help: "Microseconds a bridge's output may wait for more to join its write (0 = at once, up to 5000). Under media load fewer, fuller writes cost ovs-vswitchd fewer passes of its main loop; media copies then start up to this much later.")
    var writeHoldUs: Int = 0

    @OptionGroup var pveOption: PVEOption

    @Option(name: .long, help: "A file of 'DPID COMMON_NAME' lines: each datapath id is served only over TLS to a switch whose certificate has that common name.")
    var tlsDatapathBindings: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard !policy.isEmpty else { throw ValidationError("--policy PATH is required (a file or a directory of *.yaml)") }
        guard (1...4094).contains(monitorVlan) else { throw ValidationError("--monitor-vlan must be in 1..4094") }
        let anyTLS = [tlsKey, tlsCert, tlsCa].contains { $0 != nil }
        if listen.contains(where: { $0.hasPrefix("ssl:") }) || anyTLS {
            guard tlsKey != nil, tlsCert != nil, tlsCa != nil else {
                throw ValidationError("ssl: listeners need all of --tls-key, --tls-cert and --tls-ca")
            }
        }
        guard echoInterval > 0, deadPeerTimeout > echoInterval, handshakeTimeout > 0, replyTimeout > 0 else {
            throw ValidationError("timeouts must be positive and --dead-peer-timeout larger than --echo-interval")
        }
        try pveOption.requireExistingDirectory()
        if role == .standby {
            guard let p = primaryStatus, ListenAddress(p) != nil else { throw ValidationError("--role standby needs --primary-status HOST:PORT or unix:/PATH (the primary's --status)") }
            guard takeoverAfter > 0 else { throw ValidationError("--takeover-after must be positive") }
        }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard (1...65535).contains(mediaIdleTimeout) else { throw ValidationError("--media-idle-timeout must be in 1..65535 seconds") }
        guard (0...5_000).contains(writeHoldUs) else { throw ValidationError("--write-hold-us must be in 0..5000") }
        guard mediaFlowsPerBridge >= 0, mediaFlowsPerNic >= 0 else { throw ValidationError("media flow budgets cannot be negative") }
    }

    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { _ in
            var h = LineLogHandler()
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "sipspan")
        var addresses: [ListenAddress] = []
        for a in listen {
            guard let address = ListenAddress(a) else {
                FileHandle.standardError.write(Data("sipspan: cannot listen: invalid listen address '\(a)' (expected [tcp:|ssl:]HOST:PORT or unix:/PATH)\n".utf8))
                throw ExitCode(1)
            }
            addresses.append(address)
        }

        let initial: PolicySet
        switch PolicyLoader.load(paths: policy) {
        case let .failure(errors):
            FileHandle.standardError.write(Data((errors.description + "\n").utf8))
            throw ExitCode(1)
        case let .success(set):
            initial = set
        }
        for s in initial.sessions { logger.info("session loaded", metadata: ["session": .string(s.summary), "file": .string(s.file)]) }

        var inventory: InventoryReading? = nil
        let pveRoot = pveOption.root
        if let pveRoot {
            inventory = InventoryReading.initial(root: pveRoot, logger: logger)
        } else {
            logger.notice("no Proxmox inventory (--pve none or no /etc/pve): guest MACs are learned from their frames, which a guest can spoof")
        }

        var options = ControllerOptions()
        options.planner.monitorVLAN = monitorVlan
        options.maximumConnections = maxConnections
        if let path = tlsDatapathBindings {
            do {
                options.datapathCertificates = try DatapathBindings.parse(String(decoding: try BoundedFile.read(path, limit: 1 << 20), as: UTF8.self), file: path)
            } catch {
                FileHandle.standardError.write(Data("sipspan: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        options.session.atomicChanges = !plainFlowMods
        if let flowLayout { options.planner.layout = flowLayout }
        options.session.auditInterval = audit
        options.session.echoInterval = echoInterval
        options.session.deadPeerTimeout = deadPeerTimeout
        options.session.handshakeTimeout = handshakeTimeout
        options.session.syncTimeout = replyTimeout
        options.session.barrierTimeout = replyTimeout
        options.session.media.idleTimeout = UInt16(mediaIdleTimeout)
        options.session.media.flowsPerBridge = mediaFlowsPerBridge
        options.session.media.flowsPerNIC = mediaFlowsPerNic
        let core = ControllerCore(policy: initial, inventory: inventory?.inventory ?? .empty, inventoryProblems: inventory?.problems ?? [],
                                  pveRoot: pveRoot, pveFiles: inventory?.files ?? [:], options: options,
                                  role: role.openFlowRole, wallClockMilliseconds: wallClockMilliseconds(), now: monotonicNow())
        // Policies kept on pmxcfs (/etc/pve/sipspan, as the guide says) are unknown while it is not mounted.
        let policyOnPmxcfs: String? = pveRoot.flatMap { root in
            policy.contains { ($0 as NSString).standardizingPath.hasPrefix((root as NSString).standardizingPath + "/") } ? root : nil
        }
        let controller = SipspanController(core: core, logger: logger)
        controller.writeHoldMicroseconds = writeHoldUs
        do {
            let tls = tlsKey.flatMap { key in tlsCert.flatMap { cert in tlsCa.map { TLSConfiguration(privateKeyPath: key, certificatePath: cert, caCertificatePath: $0) } } }
            try controller.start(listen: addresses, tls: tls)
        } catch {
            FileHandle.standardError.write(Data("sipspan: cannot listen: \(error)\n".utf8))
            throw ExitCode(1)
        }

        let watcher = PolicyWatcher(paths: policy, logger: logger) { reading in
            switch reading.result {
            case let .success(set):
                controller.apply(policy: set, changedFiles: reading.changedFiles, trigger: reading.trigger, detectedAt: reading.detectedAt)
            case let .failure(errors):
                let unmounted = policyOnPmxcfs.map { !InventoryReader.isMounted(root: $0) } ?? false
                controller.reject(policy: errors, changedFiles: reading.changedFiles, trigger: reading.trigger, pmxcfsUnmounted: unmounted)
            }
        }
        watcher.start()
        if let pveRoot, let inventory {
            let inventoryWatcher = InventoryWatcher(root: pveRoot, initial: inventory) { r in
                controller.apply(inventoryFiles: r.files, readProblems: r.readProblems, changedFiles: r.changedFiles, root: pveRoot, detectedAt: r.detectedAt)
            }
            inventoryWatcher.start()
            Daemon.keep(inventoryWatcher)
        }
        controller.logWarnings()
        if role == .standby, let primaryStatus {
            let watch = PrimaryWatch(primary: primaryStatus, takeoverAfter: takeoverAfter, controller: controller)
            watch.start()
            Daemon.keep(watch)
            logger.info("standby: slave on every bridge until the primary stops answering", metadata: [
                "primary": .string(primaryStatus), "takeover_after_s": .stringConvertible(takeoverAfter),
            ])
        }

        for address in status where address != "off" && !address.isEmpty {
            let routes = StatusRoutes(controller: controller, isLocal: ListenAddress(address)?.isLocal ?? false)
            let server = StatusServer { routes.respond($0) }
            do {
                let bound = try server.start(address)
                logger.info("status endpoint", metadata: ["address": .string(bound)])
                controller.serving(statusEndpoint: bound)
                Daemon.keep(server)
            } catch {
                logger.warning("status endpoint unavailable", metadata: ["address": .string(address), "error": .string("\(error)")])
            }
        }

        let signals = DispatchQueue(label: "sipspan.signals")
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: signals)
            s.setEventHandler {
                if sig == SIGHUP {
                    logger.info("SIGHUP: reloading policies")
                    watcher.reloadNow(reason: "SIGHUP")
                } else {
                    logger.info("stopping; installed flows stay on the bridges")
                    watcher.stop()
                    controller.stop()
                    Foundation.exit(0)
                }
            }
            s.resume()
            Daemon.keep(s as AnyObject)
        }
        Daemon.keep(controller)
        Daemon.keep(watcher)
        dispatchMain()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `serve --role`.
enum ServeRole: String, ExpressibleByArgument, CaseIterable {
    case equal, primary, standby

    var openFlowRole: ControllerRole {
        switch self {
        case .equal: return .equal
        case .primary: return .master
        case .standby: return .slave
        }
    }
}
