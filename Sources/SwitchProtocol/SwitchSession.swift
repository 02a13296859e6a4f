import FlowPlanning
import MediaTracking
import RateLimit
import OpenFlow
import Policy

/// The OpenFlow conversation with one bridge as a state machine: `(input, now, context) → [actions]`.
///
/// Pure: it owns its xids, its barrier bookkeeping and its timeouts, and does no I/O. The runtime feeds
/// it frames, ticks and plan changes and executes what it returns (send, close, log, …). It never
/// wipes a bridge: it reads back what is installed and sends only the difference to the desired flow
/// set, confirmed by one barrier; flows with another cookie (an operator's) are never replaced.
public struct SwitchSession: Sendable {
    /// Where the conversation stands. Each state carries what is valid in it: the first sync's
    /// requests from the moment they are sent, the datapath id once FEATURES_REPLY named it, the
    /// changes in flight and the audit only while the bridge is served.
    enum State: Sendable {
        /// Created; `.connected` has not been fed yet.
        case idle
        /// HELLO, FEATURES_REQUEST and the first sync's requests are sent; waiting for HELLO.
        case awaitingHello(Sync)
        /// The version is agreed; waiting for FEATURES_REPLY (port list and flows may come first).
        case awaitingFeatures(Sync)
        /// The datapath is known; waiting for the rest of the first sync.
        case syncing(datapathID: UInt64, Sync)
        /// The bridge is served: its flows are reconciled to the plan.
        case ready(Ready)
        /// The connection went away; the datapath id it had, if any.
        case closed(datapathID: UInt64?)
    }

    /// What a served bridge's session keeps.
    struct Ready: Sendable {
        let datapathID: UInt64
        /// A re-read of the bridge's flows in flight (audit or repair).
        var audit: Sync?
        /// Changes sent and not yet confirmed, by their barrier's xid.
        var pendingBarriers: [UInt32: PendingChange] = [:]
        /// A switch error came in: re-read the flows once the changes in flight are confirmed.
        var resyncRequested = false
        /// A reconcile asked for with `.scheduleReconcile` and not yet due.
        var reconcileScheduled: ReconcileReason?
        /// When the first full flow set was barrier-confirmed (nil until then).
        var confirmedAt: UInt64?
        /// Whether a change or a sync is waiting for the switch.
        var isBusy: Bool { !pendingBarriers.isEmpty || audit != nil }
    }

    /// A change sent and not yet confirmed by its barrier.
    struct PendingChange: Sendable {
        let reason: ReconcileReason
        let added: Int
        let removed: Int
        let reload: Int?
        let started: UInt64
    }

    /// A sync in flight: the requests' xids and what their replies delivered so far.
    struct Sync: Sendable {
        let portsXID: UInt32?
        let flowsXID: UInt32
        let sentAt: UInt64
        var ports: [PortDescription] = []
        var portsDone: Bool
        var flows: [FlowStats] = []
        var flowsDone = false
        /// The switch reported an error meanwhile: read the flows again after the first reconcile.
        var repairAfter = false
        var isComplete: Bool { portsDone && flowsDone }
    }

    public let configuration: SessionConfiguration
    public let connectedAt: UInt64
    private(set) var state = State.idle
    /// The bridge's name (its LOCAL port), "?" until the port list arrives.
    public private(set) var bridgeName = "?"
    public private(set) var ports: [String: UInt32] = [:]
    private var portNames: [UInt32: String] = [:]
    /// sipspan's flows as the switch holds them (after the last sync plus what was sent since).
    public private(set) var installed: [FlowKey: Flow] = [:]
    /// Keys held by flows with another cookie (an operator's), from the last sync.
    public private(set) var foreignKeys: Set<FlowKey> = []
    /// Desired flows not installed because an operator's flow holds their key.
    public private(set) var conflicts: [Flow] = []
    /// The flow layout of a newer sipspan found on the bridge at the last sync: the bridge is then
    /// left alone (a newer instance owns it), nil when none.
    public private(set) var newerLayout: UInt8?
    public private(set) var macs = GuestMACTable()
    public private(set) var plan: BridgePlan?
    public private(set) var lastReceived: UInt64
    /// When the unanswered echo request was sent (nil when none is outstanding).
    public private(set) var echoSentAt: UInt64?
    public private(set) var lastAudit: UInt64
    public private(set) var flowModsSent = 0
    public private(set) var changesApplied = 0
    /// Frames copied per watched port, from the copy flows' counters at the last sync or audit.
    public private(set) var copiedFrames: [String: Int] = [:]

    private var nextXID: UInt32 = 1
    /// The xids of the NORMAL flows sent before anything else (OFPFF_CHECK_OVERLAP: an existing flow
    /// at priority 0 makes them fail harmlessly, so they never replace anything).
    private var bootstrapXIDs = Set<UInt32>()
    /// Set when the switch says another controller is master (a stale role request, or a flow_mod
    /// refused as from a slave): nothing is written until the role is asked for again.
    public private(set) var demoted = false
    /// The xid of the last role request (master or slave) and of the query (NOCHANGE) sent after it
    /// was refused as stale, and how often that happened on this connection (bounded).
    private var roleXID: UInt32?
    private var roleQueryXID: UInt32?
    private var staleRoleRetries = 0
    /// Stale role requests answered by asking again with a newer generation id, per connection.
    static let maxStaleRoleRetries = 3
    /// Whether changes go out as atomic bundles (until the switch refuses one).
    public private(set) var bundles: Bool
    private var nextBundleID: UInt32 = 1
    /// The xids of the bundle messages sent, to recognise a switch that does not implement them.
    private var bundleXIDs = Set<UInt32>()
    private var lastNotices: [String] = []
    private var lastConflicts: [Flow] = []
    private var packetIns: TokenBucket
    /// sipspan's flows (but per-call media flows) the last sync found on the bridge.
    public private(set) var foundAtSync = 0
    /// Per-call media copies of this bridge's calls.
    public private(set) var media: MediaTracker
    /// Budget and call-table warnings are logged once per connection.
    private var mediaWarned = Set<String>()
    /// Emit debug lines: one per flow added or removed, and one per call whose media copies start,
    /// change or end (built only when asked for: at the info level they would cost every SIP frame).
    public var logFlowChanges = false
    /// Ports that can be the media feed (`MediaFeedName`), by name, and the candidate last announced.
    private var feedPorts: [String: MediaFeedPort] = [:]
    private var announcedFeed: MediaFeedPort?
    /// The media feed port the runtime reads now (the copy flows of media NICs output to it).
    public private(set) var mediaFeed: MediaFeedPort?
    /// A candidate that could not be opened is asked for again from then (it may come up later);
    /// the same reason is logged once.
    private var feedRetryAt: UInt64?
    private var feedFailure: String?
    static let feedRetryInterval: UInt64 = 10_000_000_000

    public init(configuration: SessionConfiguration = SessionConfiguration(), now: UInt64) {
        self.configuration = configuration
        connectedAt = now; lastReceived = now; lastAudit = now
        bundles = configuration.atomicChanges
        packetIns = TokenBucket(perSecond: configuration.packetInRate, burst: configuration.packetInRate, now: now)
        media = MediaTracker(limits: configuration.media)
    }

    /// Where the session stands, without the state's data.
    public var phase: SessionPhase {
        switch state {
        case .idle, .awaitingHello: return .awaitingHello
        case .awaitingFeatures: return .awaitingFeatures
        case .syncing: return .syncing
        case .ready: return .ready
        case .closed: return .closed
        }
    }

    /// The datapath id FEATURES_REPLY named (nil before it).
    public var datapathID: UInt64? {
        switch state {
        case .idle, .awaitingHello, .awaitingFeatures: return nil
        case let .syncing(dpid, _): return dpid
        case let .ready(r): return r.datapathID
        case let .closed(dpid): return dpid
        }
    }

    /// When the first full flow set was barrier-confirmed (nil until then, and once closed).
    public var confirmedAt: UInt64? { if case let .ready(r) = state { return r.confirmedAt }; return nil }

    /// `ovs-vsctl`-style datapath id, or "?" before FEATURES_REPLY.
    public var dpidText: String { datapathID.map(hex16) ?? "?" }

    /// Reloads whose barriers this session still owes.
    public var pendingReloads: [Int] { if case let .ready(r) = state { return r.pendingBarriers.values.compactMap(\.reload) }; return [] }

    /// Whether a change or a sync is waiting for the switch.
    public var isBusy: Bool {
        switch state {
        case .awaitingHello, .awaitingFeatures, .syncing: return true
        case let .ready(r): return r.isBusy
        case .idle, .closed: return false
        }
    }

    /// The next xid; wraps from UInt32.max to 1 (0 is left to unsolicited messages).
    public internal(set) var upcomingXID: UInt32 {
        get { nextXID }
        set { nextXID = newValue == 0 ? 1 : newValue }
    }

    private mutating func xid() -> UInt32 {
        defer { nextXID = nextXID == UInt32.max ? 1 : nextXID + 1 }
        return nextXID
    }

    private mutating func outgoing(_ messages: [Message]) -> [OutgoingMessage] {
        messages.map { OutgoingMessage(xid: xid(), message: $0) }
    }

    /// A role request; its xid is kept to recognise its refusal or reply.
    private mutating func roleRequest(_ role: ControllerRole, generationID: UInt64) -> OutgoingMessage {
        let m = OutgoingMessage(xid: xid(), message: .roleRequest(role: role, generationID: generationID))
        roleXID = m.xid
        return m
    }

    // MARK: input

    /// Feeds one input; returns what the runtime must do, in order.
    public mutating func handle(_ input: SessionInput, now: UInt64, context: PlanningContext) -> [SessionAction] {
        if case .closed = state { return [] }
        var out: [SessionAction] = []
        switch input {
        case .connected: start(now: now, planner: context.planner, into: &out)
        case let .frame(bytes): received(bytes, now: now, context: context, into: &out)
        case .tick: tick(now: now, context: context, into: &out)
        case let .planChanged(reload): reconcile(.planChanged, reload: reload, now: now, context: context, into: &out)
        case .roleChanged:
            guard datapathID != nil else { break }
            demoted = false
            staleRoleRetries = 0
            out.append(.send([roleRequest(context.role, generationID: context.generationID)]))
            reconcile(.planChanged, reload: nil, now: now, context: context, into: &out)
        case let .mediaFeed(candidate, opened, detail):
            mediaFeedResult(candidate, opened: opened, detail: detail, now: now, into: &out)
        case let .feedFrame(bytes):
            guard case .ready = state, mediaFeed != nil else { break }
            mediaOutput(media.fed(frame: bytes, now: now), context: context, into: &out)
        case .reconcileDue:
            guard case var .ready(r) = state, let why = r.reconcileScheduled else { break }
            r.reconcileScheduled = nil
            state = .ready(r)
            reconcile(why, reload: nil, now: now, context: context, into: &out)
        }
        return out
    }

    /// Marks the session closed (the connection went away for a reason the runtime saw).
    public mutating func closed() { state = .closed(datapathID: datapathID) }

    private mutating func close(_ kind: CloseReason.Kind, _ detail: String, into out: inout [SessionAction]) {
        closed()
        out.append(.close(CloseReason(kind, detail)))
    }

    /// HELLO and, pipelined behind it, the NORMAL flow (so a bridge that failed open, or lost its
    /// flows in a restart, forwards again before anything else ends fail-open) and every request the
    /// first sync needs: one write and one round trip through the switch.
    private mutating func start(now: UInt64, planner: FlowPlanner, into out: inout [SessionAction]) {
        guard case .idle = state else { return }
        var messages: [OutgoingMessage] = outgoing([.hello(versions: [openFlow13Version]), .featuresRequest,
                                                    // Fragment handling "nx-match" (OVS's value 3): a first fragment shows its
                                                    // L4 ports; later fragments are matched by ip_frag=later.
                                                    .setConfig(flags: ConfigFlags.fragmentsNXMatch, missSendLength: 128)])
        for flow in planner.bootstrapFlows {
            var bootstrap = flow.addMod
            bootstrap.flags |= FlowModFlags.checkOverlap
            let b = OutgoingMessage(xid: xid(), message: .flowMod(bootstrap))
            bootstrapXIDs.insert(b.xid)
            messages.append(b)
            flowModsSent += 1
        }
        // FLOW_REMOVED only for timeouts: sipspan's own deletes are not echoed back. After the NORMAL
        // flow, so that nothing but it can be what ends fail-open.
        messages += outgoing([.setAsync(.timeoutsOnly)])
        let (requests, sync) = syncRequests(includePorts: true, now: now)
        messages += requests
        state = .awaitingHello(sync)
        out.append(.send(messages))
    }

    private mutating func received(_ frame: [UInt8], now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        lastReceived = now
        echoSentAt = nil
        let header: OpenFlowHeader, message: Message
        do {
            (header, message) = try Message.decode(frame)
        } catch let e as OpenFlowDecodeError {
            refuse(e, frame: frame, into: &out)
            return
        } catch {
            close(.malformedMessage, "undecodable message: \(error)", into: &out)
            return
        }
        switch (state, message) {
        case (.idle, _), (.closed, _):
            break
        case let (.awaitingHello(sync), .hello(versions)):
            out.append(.log(LogLine(.trace, "hello received", ["since_accept_ms": milliseconds(from: connectedAt, to: now)])))
            negotiate(headerVersion: header.version, versions: versions, sync: sync, into: &out)
        case (.awaitingHello, _):
            close(.unexpectedMessage, "expected HELLO, got message type \(header.type)", into: &out)
        case (_, .hello):
            break // a repeated HELLO is harmless
        case let (_, .echoRequest(data)):
            out.append(.send([OutgoingMessage(xid: header.xid, message: .echoReply(data))]))
        case (_, .echoReply):
            break
        case let (.awaitingFeatures(sync), .featuresReply(f)):
            featuresReceived(f, sync: sync, now: now, context: context, into: &out)
        case let (_, .error(type, code, _)):
            switchError(type: type, code: code, xid: header.xid, context: context, into: &out)
        case let (.syncing, .roleReply(role, generation)), let (.ready, .roleReply(role, generation)):
            roleReply(role, generation: generation, xid: header.xid, now: now, context: context, into: &out)
        case let (.awaitingFeatures, .multipartReply(reply, flags)), let (.syncing, .multipartReply(reply, flags)), let (.ready, .multipartReply(reply, flags)):
            multipart(reply, flags: flags, xid: header.xid, now: now, context: context, into: &out)
        case (.ready, .barrierReply):
            barrierReply(xid: header.xid, now: now, context: context, into: &out)
        case let (.ready, .portStatus(reason, port)), let (.syncing, .portStatus(reason, port)):
            portStatus(reason, port, into: &out)
        case let (.ready, .packetIn(p)):
            packetIn(p, now: now, context: context, into: &out)
        case let (.ready, .flowRemoved(f)):
            if FlowCookie.kind(of: f.cookie) == .media { mediaOutput(media.flowRemoved(f), context: context, into: &out) }
        default:
            break // anything else a switch may send (flow_removed, role replies, ...) needs no action
        }
    }

    private mutating func refuse(_ e: OpenFlowDecodeError, frame: [UInt8], into out: inout [SessionAction]) {
        let code: BadRequestCode
        switch e {
        case .badVersion: code = .badVersion
        case .unknownType: code = .badType
        default: code = .badLength
        }
        out.append(.send([OutgoingMessage(xid: 0, message: .error(type: ErrorType.badRequest.rawValue, code: code.rawValue, data: Array(frame.prefix(64))))]))
        close(.malformedMessage, "malformed message: \(e)", into: &out)
    }

    private mutating func negotiate(headerVersion: UInt8, versions: Set<UInt8>, sync: Sync, into out: inout [SessionAction]) {
        let agreed = versions.isEmpty ? headerVersion >= openFlow13Version : versions.contains(openFlow13Version)
        guard agreed else {
            let offered = versions.isEmpty ? "version 0x\(String(headerVersion, radix: 16))" : "versions " + versions.sorted().map { "0x\(String($0, radix: 16))" }.joined(separator: ",")
            let text = Array("sipspan speaks OpenFlow 1.3 (0x04) only; peer offered \(offered)".utf8)
            out.append(.send([OutgoingMessage(xid: 0, message: .error(type: ErrorType.helloFailed.rawValue, code: HelloFailedCode.incompatible.rawValue, data: text))]))
            close(.versionMismatch, "version negotiation failed: peer offered \(offered); set protocols=OpenFlow13 on the bridge", into: &out)
            return
        }
        state = .awaitingFeatures(sync)
    }

    private mutating func featuresReceived(_ f: SwitchFeatures, sync: Sync, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        guard f.auxiliaryID == 0 else {
            close(.auxiliaryConnection, "auxiliary connections are not used", into: &out)
            return
        }
        state = .syncing(datapathID: f.datapathID, sync)
        if context.role != .equal {
            out.append(.send([roleRequest(context.role, generationID: context.generationID)]))
        }
        out.append(.log(LogLine(.trace, "features received", ["dpid": dpidText, "since_accept_ms": milliseconds(from: connectedAt, to: now)])))
        out.append(.claimDatapath(f.datapathID))
        completeSyncIfReady(now: now, context: context, into: &out)
    }

    /// The port list (if wanted) and every flow of the bridge: sipspan's to reconcile, the others to
    /// know which keys an operator holds.
    private mutating func syncRequests(includePorts: Bool, now: UInt64) -> ([OutgoingMessage], Sync) {
        var messages: [OutgoingMessage] = []
        var portsXID: UInt32? = nil
        if includePorts {
            let m = OutgoingMessage(xid: xid(), message: .multipartRequest(.portDesc, flags: 0))
            portsXID = m.xid
            messages.append(m)
        }
        let f = OutgoingMessage(xid: xid(), message: .multipartRequest(.flow(table: 0xff, cookie: 0, cookieMask: 0, match: .any), flags: 0))
        messages.append(f)
        return (messages, Sync(portsXID: portsXID, flowsXID: f.xid, sentAt: now, portsDone: !includePorts))
    }

    /// The sync in flight, whichever state holds it.
    private var sync: Sync? {
        switch state {
        case let .awaitingHello(s), let .awaitingFeatures(s), let .syncing(_, s): return s
        case let .ready(r): return r.audit
        case .idle, .closed: return nil
        }
    }

    private mutating func updateSync(_ s: Sync) {
        switch state {
        case .awaitingHello: state = .awaitingHello(s)
        case .awaitingFeatures: state = .awaitingFeatures(s)
        case let .syncing(dpid, _): state = .syncing(datapathID: dpid, s)
        case var .ready(r): r.audit = s; state = .ready(r)
        case .idle, .closed: break
        }
    }

    private mutating func multipart(_ reply: MultipartReply, flags: UInt16, xid: UInt32, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        guard var s = sync else { return }
        let more = flags & multipartFlagMore != 0
        switch reply {
        case let .portDesc(list) where xid == s.portsXID && !s.portsDone:
            guard s.ports.count + list.count <= configuration.maximumPorts else {
                close(.replyTooLarge, "port description reply too large", into: &out); return
            }
            s.ports += list
            if !more {
                // Adopt the snapshot at once: PORT_STATUS events that follow it apply on top of it.
                setPorts(s.ports)
                s.ports = []
                s.portsDone = true
                announceFeedCandidate(into: &out)
            }
        case let .flow(stats) where xid == s.flowsXID && !s.flowsDone:
            guard s.flows.count + stats.count <= configuration.maximumFlows else {
                close(.replyTooLarge, "flow stats reply too large", into: &out); return
            }
            s.flows += stats
            if !more { s.flowsDone = true }
        default:
            return
        }
        updateSync(s)
        completeSyncIfReady(now: now, context: context, into: &out)
    }

    private mutating func completeSyncIfReady(now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        switch state {
        case let .syncing(dpid, s) where s.isComplete:
            // The bridge is served from here on; its first reconcile registers the barrier it awaits.
            state = .ready(Ready(datapathID: dpid, resyncRequested: s.repairAfter))
            out.append(.log(LogLine(.trace, "sync received", ["dpid": dpidText, "since_accept_ms": milliseconds(from: connectedAt, to: now)])))
            finishSync(s.flows, reason: .connect, now: now, context: context, into: &out)
            guard case .ready = state else { return }
            out.append(.ready)
            out.append(.log(LogLine(.info, "bridge connected", [
                "dpid": dpidText, "bridge": bridgeName, "ports": String(ports.count), "found": String(foundAtSync), "installed": String(installed.count),
                "media_flows": String(media.adoptedFlows),
            ])))
            confirmIfFirst(now: now, into: &out)
        case var .ready(r):
            guard let s = r.audit, s.isComplete else { return }
            r.audit = nil
            state = .ready(r)
            finishSync(s.flows, reason: .audit, now: now, context: context, into: &out)
        default:
            return
        }
    }

    private mutating func setPorts(_ list: [PortDescription]) {
        ports = [:]; portNames = [:]; feedPorts = [:]
        for p in list {
            if p.portNumber == PortNumber.local { bridgeName = p.name; continue }
            guard p.portNumber <= PortNumber.max else { continue }
            ports[p.name] = p.portNumber
            portNames[p.portNumber] = p.name
            noteFeedPort(p)
        }
    }

    private mutating func noteFeedPort(_ p: PortDescription) {
        guard MediaFeedName.matches(p.name), let mac = MACAddress(bytes: p.hardwareAddress) else { return }
        feedPorts[p.name] = MediaFeedPort(name: p.name, port: p.portNumber, hardwareAddress: mac)
    }

    /// Tells the runtime which port to read as the media feed when the candidate changed; a feed
    /// whose port went away or changed stops at once (the plan falls back to PACKET_IN).
    private mutating func announceFeedCandidate(into out: inout [SessionAction]) {
        let candidate = MediaFeedPort.candidate(feedPorts.values)
        guard candidate != announcedFeed else { return }
        announcedFeed = candidate
        feedRetryAt = nil; feedFailure = nil
        out.append(.watchMediaFeed(candidate))
        if let feed = mediaFeed, feed != candidate {
            mediaFeed = nil
            out.append(.log(LogLine(.info, "media feed stopped; media NICs' SIP goes to the controller", ["dpid": dpidText, "bridge": bridgeName, "port": feed.name])))
            scheduleReconcile(.portsChanged(first: feed.name, more: false), into: &out)
        }
    }

    /// The runtime opened the announced feed, or could not or lost it (`detail` says why). A result
    /// for a candidate no longer announced is stale and ignored.
    private mutating func mediaFeedResult(_ candidate: MediaFeedPort, opened: Bool, detail: String, now: UInt64, into out: inout [SessionAction]) {
        guard candidate == announcedFeed else { return }
        let port = candidate.port
        if opened {
            feedRetryAt = nil; feedFailure = nil
            guard mediaFeed != candidate else { return }
            mediaFeed = candidate
            out.append(.log(LogLine(.info, "media feed opened; media NICs' SIP goes to it instead of the controller", [
                "dpid": dpidText, "bridge": bridgeName, "port": candidate.name, "ofport": String(port), "detail": detail,
            ])))
            scheduleReconcile(.portsChanged(first: candidate.name, more: false), into: &out)
        } else {
            let had = mediaFeed != nil
            mediaFeed = nil
            feedRetryAt = now + SwitchSession.feedRetryInterval
            if had || detail != feedFailure {
                out.append(.log(LogLine(had ? .warning : .info, "media feed not used; media NICs' SIP goes to the controller", [
                    "dpid": dpidText, "bridge": bridgeName, "port": candidate.name, "reason": detail,
                ])))
            }
            feedFailure = detail
            if had { scheduleReconcile(.portsChanged(first: candidate.name, more: false), into: &out) }
        }
    }

    /// Adopts what the switch reports, recovers learned MACs from sipspan's flows, then reconciles.
    private mutating func finishSync(_ flows: [FlowStats], reason: ReconcileReason, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        installed = [:]
        foreignKeys = []
        foundAtSync = 0
        countCopies(flows, context: context)
        let newest = flows.filter { FlowCookie.isOurs($0.cookie) }.map { FlowCookie.layout(of: $0.cookie) }.max()
        let found = newest.flatMap { $0 > context.planner.layout ? $0 : nil }
        if found != newerLayout, let found {
            out.append(.log(LogLine(.warning, "flows of a newer sipspan on this bridge; left alone until it is served by a sipspan of that layout", [
                "dpid": dpidText, "bridge": bridgeName, "their_layout": String(found), "our_layout": String(context.planner.layout),
            ])))
        }
        newerLayout = found
        // Per-call media flows are the tracker's: adopted or matched to its calls, never reconciled.
        mediaOutput(media.synced(flows), context: context, into: &out)
        for s in flows {
            let f = Flow(stats: s)
            guard FlowCookie.isOurs(s.cookie) else { foreignKeys.insert(f.key); continue }
            if FlowCookie.kind(of: s.cookie) == .media { continue }
            foundAtSync += 1
            installed[f.key] = f
            // Guest MACs survive a sipspan restart in the learning flows it installed.
            if FlowCookie.kind(of: s.cookie) == .learning, s.priority == FlowPriority.learnKnown,
               let inPort = s.match.inPort, let mac = s.match.ethSrc, let name = portNames[inPort], !macs.macs(of: name).contains(mac) {
                macs.learn(mac, on: name)
            }
        }
        lastAudit = now
        reconcile(reason, reload: nil, now: now, context: context, into: &out)
    }

    /// Sums the copy flows' packet counters per watched port: flows matching the port (`in_port`)
    /// and flows matching its guest's MAC (`dl_dst`).
    private mutating func countCopies(_ flows: [FlowStats], context: PlanningContext) {
        var portOfMAC: [MACAddress: String] = [:]
        for (port, list) in macs.macs { for m in list { portOfMAC[m] = port } }
        for (port, list) in context.inventory.macs(forPorts: ports.keys) { for m in list { portOfMAC[m] = port } }
        var counts: [String: Int] = [:]
        for f in flows where FlowCookie.kind(of: f.cookie) == .copy && f.packetCount > 0 {
            let port = f.match.inPort.flatMap { portNames[$0] } ?? f.match.ethDst.flatMap { portOfMAC[$0] }
            if let port { counts[port, default: 0] += Int(clamping: f.packetCount) }
        }
        copiedFrames = counts
    }

    // MARK: reconcile

    /// Recomputes the desired flows and sends the difference, confirmed by one barrier.
    private mutating func reconcile(_ reason: ReconcileReason, reload: Int?, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        guard case var .ready(r) = state else { return }
        // A newer sipspan's flows are never rewritten (nor planned) by an older one; a standby, or a
        // session another master has demoted, plans (for status) but sends nothing.
        if newerLayout == nil {
            plan = context.planner.plan(policy: context.policy, ports: ports, macs: macs, knownMACs: context.inventory.macs(forPorts: ports.keys),
                                        mediaFeed: mediaFeed?.port)
        }
        defer { if let plan { mediaOutput(media.setNICs(plan.mediaNICs), context: context, into: &out) } }
        guard writes(context), let newPlan = plan else {
            if reason != .connect { confirmIfFirst(now: now, into: &out) }
            return
        }
        if newPlan.notices != lastNotices {
            for n in newPlan.notices where !lastNotices.contains(n) {
                out.append(.log(LogLine(.warning, "bridge has watched NICs but no monitor", ["dpid": dpidText, "bridge": bridgeName, "detail": n])))
            }
            lastNotices = newPlan.notices
        }
        // An operator's flow holding the key of a desired flow is never replaced: reported instead.
        var desired = newPlan.flows
        if !foreignKeys.isEmpty {
            let blocked = desired.filter { foreignKeys.contains($0.key) }
            if !blocked.isEmpty { desired.removeAll { foreignKeys.contains($0.key) } }
            conflicts = blocked
        } else {
            conflicts = []
        }
        if conflicts != lastConflicts {
            for f in conflicts where !lastConflicts.contains(f) {
                out.append(.log(LogLine(.warning, "a flow with another cookie holds the place of a sipspan flow; it is left alone",
                                        ["dpid": dpidText, "bridge": bridgeName, "flow": f.description])))
            }
            lastConflicts = conflicts
        }
        let diff = FlowDiff(installed: Array(installed.values), desired: desired)
        if diff.isEmpty {
            // After the first sync the bridge is confirmed once it is announced as connected.
            if reason != .connect { confirmIfFirst(now: now, into: &out) }
            return
        }
        if logFlowChanges {
            for f in diff.deletes { out.append(.log(LogLine(.debug, "flow removed", ["bridge": bridgeName, "flow": f.description]))) }
            for f in diff.adds { out.append(.log(LogLine(.debug, "flow added", ["bridge": bridgeName, "flow": f.description]))) }
        }
        var messages: [OutgoingMessage]
        if bundles {
            // One atomic bundle: the switch applies every flow_mod of the change at once at the commit.
            let id = nextBundleID
            nextBundleID = nextBundleID == UInt32.max ? 1 : nextBundleID + 1
            messages = outgoing([.bundleControl(bundleID: id, type: .openRequest, flags: Bundle.atomic)]
                + diff.flowMods.map { Message.bundleAdd(bundleID: id, flags: Bundle.atomic, message: $0) }
                + [.bundleControl(bundleID: id, type: .commitRequest, flags: Bundle.atomic)])
            if bundleXIDs.count > 4096 { bundleXIDs.removeAll() }
            bundleXIDs.formUnion(messages.map(\.xid))
        } else {
            messages = outgoing(diff.flowMods.map { Message.flowMod($0) })
        }
        let barrier = OutgoingMessage(xid: xid(), message: .barrierRequest)
        messages.append(barrier)
        out.append(.send(messages))
        flowModsSent += diff.flowMods.count
        for f in diff.deletes { installed[f.key] = nil }
        for f in diff.adds { installed[f.key] = f }
        r.pendingBarriers[barrier.xid] = PendingChange(reason: reason, added: diff.adds.count, removed: diff.deletes.count, reload: reload, started: now)
        state = .ready(r)
        out.append(.changeSent(added: diff.adds.count, removed: diff.deletes.count, reload: reload))
    }

    /// Records (once) the moment the bridge first holds its complete flow set: nothing is in flight.
    private mutating func confirmIfFirst(now: UInt64, into out: inout [SessionAction]) {
        guard case var .ready(r) = state, r.confirmedAt == nil, r.pendingBarriers.isEmpty else { return }
        r.confirmedAt = now
        state = .ready(r)
        out.append(.confirmed)
    }

    private mutating func barrierReply(xid: UInt32, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        guard case var .ready(r) = state, let change = r.pendingBarriers.removeValue(forKey: xid) else { return }
        state = .ready(r)
        changesApplied += 1
        out.append(.applied(AppliedChange(reason: change.reason, added: change.added, removed: change.removed, reload: change.reload,
                                          started: change.started, confirmed: now)))
        out.append(.log(LogLine(.info, "flows applied", [
            "dpid": dpidText, "bridge": bridgeName, "reason": change.reason.description,
            "added": String(change.added), "removed": String(change.removed), "ms": milliseconds(from: change.started, to: now),
        ])))
        confirmIfFirst(now: now, into: &out)
        if case var .ready(r) = state, r.resyncRequested, !r.isBusy {
            r.resyncRequested = false
            state = .ready(r)
            audit(now: now, into: &out)
        }
    }

    /// Re-reads the bridge's flows and repairs any drift once the replies are in.
    private mutating func audit(now: UInt64, into out: inout [SessionAction]) {
        guard case var .ready(r) = state, r.audit == nil else { return }
        lastAudit = now
        let (requests, sync) = syncRequests(includePorts: false, now: now)
        r.audit = sync
        state = .ready(r)
        out.append(.send(requests))
    }

    private mutating func switchError(type: UInt16, code: UInt16, xid: UInt32, context: PlanningContext, into out: inout [SessionAction]) {
        let stale = type == ErrorType.roleRequestFailed.rawValue && code == RoleRequestFailedCode.stale.rawValue
        if stale, xid == roleXID, context.role == .master || context.role == .slave, staleRoleRetries < Self.maxStaleRoleRetries {
            // Our role request is older than a generation id the switch has seen. A standby's slave
            // request made after our master request does that too (both use wall-clock milliseconds),
            // and would leave the bridge with no writer: ask the switch's generation id (NOCHANGE) and
            // request the role again with a newer one. Bounded per connection; not written meanwhile.
            staleRoleRetries += 1
            demoted = true
            let query = OutgoingMessage(xid: self.xid(), message: .roleRequest(role: .noChange, generationID: 0))
            roleQueryXID = query.xid
            out.append(.send([query]))
            out.append(.log(LogLine(.info, "role request stale; asking again with a newer generation id", [
                "dpid": dpidText, "bridge": bridgeName, "role": "\(context.role)", "attempt": String(staleRoleRetries),
            ])))
            return
        }
        if stale || type == ErrorType.badRequest.rawValue && code == BadRequestCode.isSlave.rawValue {
            // Another controller is master with a newer generation: stop writing until asked again.
            if !demoted {
                demoted = true
                out.append(.log(LogLine(.warning, "another controller is master of this bridge; not writing", [
                    "dpid": dpidText, "bridge": bridgeName, "error": OpenFlowErrorCode.describe(type: type, code: code),
                ])))
            }
            return
        }
        if bootstrapXIDs.contains(xid) {
            // The NORMAL flow sent first met an existing priority-0 flow (sipspan's from before, or an
            // operator's): nothing was replaced, which is what OFPFF_CHECK_OVERLAP is for.
            out.append(.log(LogLine(.trace, "bootstrap NORMAL flow already covered", ["dpid": dpidText])))
            return
        }
        if bundles, bundleXIDs.contains(xid), type == ErrorType.badRequest.rawValue,
           [BadRequestCode.badType.rawValue, BadRequestCode.badExperimenter.rawValue, BadRequestCode.badExperimenterType.rawValue].contains(code) {
            // The switch does not implement bundles: plain flow_mods from now on, and a repair.
            bundles = false
            out.append(.log(LogLine(.warning, "switch does not implement OpenFlow bundles; changes are no longer atomic", ["dpid": dpidText, "bridge": bridgeName])))
        } else {
            out.append(.switchError(type: type, code: code))
        }
        // What we believe is installed may be wrong now: read it back after the current barrier.
        switch state {
        case var .ready(r): r.resyncRequested = true; state = .ready(r)
        case let .syncing(dpid, s): var s = s; s.repairAfter = true; state = .syncing(datapathID: dpid, s)
        default: break
        }
    }

    // MARK: events

    private mutating func portStatus(_ reason: PortStatusReason, _ port: PortDescription, into out: inout [SessionAction]) {
        if port.portNumber == PortNumber.local { if reason != .delete { bridgeName = port.name }; return }
        guard port.portNumber <= PortNumber.max else { return }
        switch reason {
        case .add, .modify:
            guard ports[port.name] != nil || ports.count < configuration.maximumPorts else {
                close(.tooManyPorts, "more than \(configuration.maximumPorts) ports announced", into: &out)
                return
            }
            if let oldNumber = ports[port.name], oldNumber != port.portNumber { portNames[oldNumber] = nil }
            if let oldName = portNames[port.portNumber], oldName != port.name { ports[oldName] = nil; macs.forget(port: oldName); feedPorts[oldName] = nil }
            ports[port.name] = port.portNumber
            portNames[port.portNumber] = port.name
            if feedPorts[port.name] != nil { feedPorts[port.name] = nil }
            noteFeedPort(port)
        case .delete:
            if ports[port.name] == port.portNumber { ports[port.name] = nil }
            portNames[port.portNumber] = nil
            macs.forget(port: port.name)
            if feedPorts[port.name]?.port == port.portNumber { feedPorts[port.name] = nil }
        }
        announceFeedCandidate(into: &out)
        out.append(.log(LogLine(.trace, "port status", ["dpid": dpidText, "port": port.name, "ofport": String(port.portNumber), "reason": "\(reason)"])))
        scheduleReconcile(.portsChanged(first: port.name, more: false), into: &out)
    }

    /// Reconciles once after every message already read has been handled: a burst of events (a node
    /// starting many VMs, a stream of learned MACs) costs one plan and one barrier, not one per event.
    /// Only a served bridge reconciles; during the first sync the ports are simply adopted.
    private mutating func scheduleReconcile(_ reason: ReconcileReason, into out: inout [SessionAction]) {
        guard case var .ready(r) = state else { return }
        if let pending = r.reconcileScheduled {
            if case let .portsChanged(first, false) = pending { r.reconcileScheduled = .portsChanged(first: first, more: true); state = .ready(r) }
            return
        }
        r.reconcileScheduled = reason
        state = .ready(r)
        out.append(.scheduleReconcile)
    }

    private mutating func packetIn(_ p: PacketIn, now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        if FlowCookie.kind(of: p.cookie) == .copy {
            mediaOutput(media.packetIn(frame: p.data, inPort: p.inPort, now: now), context: context, into: &out)
            return
        }
        guard FlowCookie.kind(of: p.cookie) == .learning, let inPort = p.inPort, let name = portNames[inPort],
              let plan, plan.learningPorts.contains(inPort), let mac = p.ethernetSource else { return }
        guard packetIns.take(now: now) else { return }
        if macs.learn(mac, on: name) {
            out.append(.macLearned)
            out.append(.log(LogLine(.info, "guest MAC learned", ["dpid": dpidText, "bridge": bridgeName, "port": name, "mac": mac.description])))
            scheduleReconcile(.macLearned(mac, port: name), into: &out)
        }
    }

    /// A ROLE_REPLY: to the query after a stale request, ask again with the switch's generation id + 1;
    /// to that request, the role is ours again and what waited is written.
    private mutating func roleReply(_ role: ControllerRole, generation: UInt64, xid: UInt32, now: UInt64, context: PlanningContext,
                                    into out: inout [SessionAction]) {
        if xid == roleQueryXID {
            roleQueryXID = nil
            guard context.role == .master || context.role == .slave else { return }
            out.append(.send([roleRequest(context.role, generationID: generation &+ 1)]))
            return
        }
        guard xid == roleXID, role == context.role, demoted, roleQueryXID == nil, staleRoleRetries > 0 else { return }
        demoted = false
        out.append(.log(LogLine(.info, "role granted", ["dpid": dpidText, "bridge": bridgeName, "role": "\(role)", "generation_id": String(generation)])))
        if case .ready = state { reconcile(.planChanged, reload: nil, now: now, context: context, into: &out) }
    }

    /// Whether this session writes to its bridge now (not a standby, not demoted, no newer sipspan).
    private func writes(_ context: PlanningContext) -> Bool { newerLayout == nil && context.role != .slave && !demoted }

    /// Sends a media change (not bundled, no barrier: each call's flows stand alone and a failure
    /// comes back as an error that triggers a re-read) and logs its notes.
    private mutating func mediaOutput(_ o: MediaTracker.Output, context: PlanningContext, into out: inout [SessionAction]) {
        if !o.flowMods.isEmpty, writes(context) {
            out.append(.send(outgoing(o.flowMods.map { Message.flowMod($0) })))
            flowModsSent += o.flowMods.count
        }
        for note in o.notes {
            switch note {
            case let .started(callID, flows, nics):
                guard logFlowChanges else { break }
                out.append(.log(LogLine(.debug, "media copies started", ["bridge": bridgeName, "call_id": String(callID.prefix(80)), "flows": String(flows), "nics": nics.joined(separator: ",")])))
            case let .updated(callID, flows):
                guard logFlowChanges else { break }
                out.append(.log(LogLine(.debug, "media copies changed", ["bridge": bridgeName, "call_id": String(callID.prefix(80)), "flows": String(flows)])))
            case let .ended(callID, reason, flows):
                guard logFlowChanges else { break }
                out.append(.log(LogLine(.debug, "media copies ended", ["bridge": bridgeName, "call_id": String(callID.prefix(80)), "reason": reason, "flows": String(flows)])))
            case let .overBudget(callID, scope):
                if mediaWarned.insert("budget " + scope).inserted {
                    out.append(.log(LogLine(.warning, "media flow budget used up; new calls get SIP copies only", [
                        "bridge": bridgeName, "dpid": dpidText, "budget": scope, "call_id": String(callID.prefix(80)),
                    ])))
                }
            case .tableFull:
                if mediaWarned.insert("table").inserted {
                    out.append(.log(LogLine(.warning, "media call table full; new calls get SIP copies only", [
                        "bridge": bridgeName, "dpid": dpidText, "calls": String(media.trackedCalls),
                    ])))
                }
            }
        }
    }

    // MARK: timers

    /// Keepalive, every timeout, and the periodic audit.
    private mutating func tick(now: UInt64, context: PlanningContext, into out: inout [SessionAction]) {
        let c = configuration
        let pendingSince: UInt64?
        switch state {
        case .awaitingHello, .awaitingFeatures:
            if seconds(from: connectedAt, to: now) > c.handshakeTimeout {
                let waiting = phase == .awaitingHello ? "HELLO" : "FEATURES_REPLY"
                close(.handshakeTimeout, "handshake not completed within \(Int(c.handshakeTimeout)) s (no \(waiting))", into: &out)
            }
            return
        case .idle, .closed:
            return
        case .syncing:
            pendingSince = nil
        case let .ready(r):
            pendingSince = r.pendingBarriers.values.map(\.started).min()
        }
        if let s = sync, seconds(from: s.sentAt, to: now) > c.syncTimeout {
            let missing = [s.portsDone ? nil : "port list", s.flowsDone ? nil : "flow stats"].compactMap { $0 }.joined(separator: " and ")
            close(.syncTimeout, "sync not answered within \(Int(c.syncTimeout)) s (no complete \(missing))", into: &out)
            return
        }
        if let oldest = pendingSince, seconds(from: oldest, to: now) > c.barrierTimeout {
            close(.barrierTimeout, "barrier not answered within \(Int(c.barrierTimeout)) s", into: &out)
            return
        }
        let idle = seconds(from: lastReceived, to: now)
        if idle > c.deadPeerTimeout {
            close(.deadPeer, "no message for \(Int(idle)) s (dead peer)", into: &out)
            return
        }
        if idle > c.echoInterval && echoSentAt == nil {
            echoSentAt = now
            out.append(.send(outgoing([.echoRequest([])])))
        }
        if c.auditInterval > 0, case .ready = state, !isBusy, seconds(from: lastAudit, to: now) > c.auditInterval {
            audit(now: now, into: &out)
        }
        if case .ready = state, media.isActive || media.trackedCalls > 0 { mediaOutput(media.tick(now: now), context: context, into: &out) }
        if let at = feedRetryAt, now >= at, let candidate = announcedFeed, mediaFeed == nil {
            feedRetryAt = nil
            out.append(.watchMediaFeed(candidate))
        }
    }
}

/// A datapath id as 16 hex digits, as `ovs-vsctl` shows it.
public func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}

/// A duration between two monotonic readings (ns) as milliseconds for a log field, e.g. "3.08".
public func milliseconds(from start: UInt64, to end: UInt64, digits: Int = 2) -> String {
    let ms = Double(end > start ? end - start : 0) / 1e6
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (ms * scale).rounded() / scale
    var text = String(rounded)
    // String(Double) prints "3.0" or "3.08": pad to a fixed number of decimals.
    let decimals = text.split(separator: ".", omittingEmptySubsequences: false).last.map(\.count) ?? 0
    if digits == 0 { return String(Int(rounded)) }
    if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    return text
}

/// Where a switch session stands, as `sipspan status` shows it.
public enum SessionPhase: String, Codable, Hashable, Sendable {
    case awaitingHello = "hello", awaitingFeatures = "features", syncing, ready, closed
}
