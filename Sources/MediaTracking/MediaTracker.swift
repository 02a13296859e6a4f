import RateLimit
import FlowPlanning
import OpenFlow
import Policy
import SIPMedia

/// Per-call media copies on one bridge, as a state machine: SIP frames from the copy flows
/// (PACKET_IN), FLOW_REMOVED, flow dumps, plan changes and ticks in; FLOW_MODs and notes out.
///
/// Each call with a completed offer/answer on a media NIC gets its own flows (`MediaFlows`) under a
/// cookie naming its slot, with an idle timeout and OFPFF_SEND_FLOW_REM: a call that ends is deleted
/// by cookie at once; a call whose media stops is removed by OVS itself, even while sipspan is down.
/// Media flows found on the bridge that no call of this tracker owns (a previous sipspan's) are
/// adopted: counted, never deleted, left to expire. Calls whose media flows are identical (the same
/// addresses and ports on the same NICs: a transfer, a B2BUA or a load generator reusing ports) share
/// one flow on the bridge, which carries one of them's cookie: when that call ends, the flow is
/// handed over (re-added with another owner's cookie) before the call's delete by cookie, so no live
/// call loses a copy and none is made twice. Pure: no I/O, time passed in.
public struct MediaTracker: Sendable {
    /// Something worth a log line or a counter.
    public enum Note: Hashable, Sendable {
        case started(callID: String, flows: Int, nics: [String])
        case updated(callID: String, flows: Int)
        case ended(callID: String, reason: String, flows: Int)
        /// A call got SIP copies only: the flow budget of the bridge or of a NIC is used up.
        case overBudget(callID: String, scope: String)
        /// A call was not followed: the call table is full.
        case tableFull
    }

    /// What to send and what to tell.
    public struct Output: Sendable {
        public var flowMods: [FlowMod] = []
        public var notes: [Note] = []
        public init() {}
    }

    struct Call: Sendable {
        var slot: UInt16
        var nics: [MediaNIC]
        var destinations: [MediaDestination]
        /// The flows the call wants, with its own cookie (some may be on the bridge under another's).
        var flows: [FlowKey: Flow]
    }

    /// A media flow on the bridge and the calls that want it.
    struct Placement: Sendable {
        /// As on the bridge: the holder's cookie.
        var flow: Flow
        /// The call whose cookie the flow carries.
        var holder: String
        var owners: Set<String>
        /// The media NIC it copies for (its budget).
        var port: UInt32?
    }

    public let limits: MediaLimits
    let layout: UInt8
    private var table: CallTable
    private var early: EarlyMessages
    private var nics: [UInt32: MediaNIC] = [:]
    /// The NIC of each guest MAC, keyed by the address's 48 bits (no array per frame to look one up).
    private var nicOfMAC: [UInt64: UInt32] = [:]
    /// The media NICs each followed call was seen on.
    private var callNICs: [String: Set<UInt32>] = [:]
    private var active: [String: Call] = [:]
    private var callOfSlot: [UInt16: String] = [:]
    /// Media flows of calls this tracker does not know (a previous sipspan's), by slot.
    private var adopted: [UInt16: Set<FlowKey>] = [:]
    /// This tracker's media flows on the bridge, each once however many calls want it.
    private var placed: [FlowKey: Placement] = [:]
    private var nextSlot: UInt16 = 1
    private var perNIC: [UInt32: Int] = [:]
    private var packetInBudget: TokenBucket
    public private(set) var counters = MediaCounters()

    public init(limits: MediaLimits = MediaLimits(), layout: UInt8 = FlowCookie.currentLayout) {
        self.limits = limits; self.layout = layout
        table = CallTable(limits: limits.calls)
        early = EarlyMessages(capacity: limits.earlyMessages, maxBytes: limits.earlyMessageBytes, hold: limits.earlyMessageHold)
        let rate = Double(limits.packetInsPerSecond)
        packetInBudget = TokenBucket(perSecond: rate, burst: rate, now: 0)
    }

    /// Calls with media flows on the bridge now.
    public var activeCalls: Int { active.count }
    /// Calls followed (offer/answer pending or complete).
    public var trackedCalls: Int { table.count }
    /// SIP messages held for one they follow (`EarlyMessages`).
    public var heldMessages: Int { early.count }
    /// Media flows of this tracker's calls.
    public var activeFlows: Int { placed.count }
    /// Media flows found on the bridge that belong to no call of this tracker.
    public var adoptedFlows: Int { adopted.values.reduce(0) { $0 + $1.count } }
    /// Whether any NIC of the bridge has media copies (its SIP comes to the controller).
    public var isActive: Bool { !nics.isEmpty }
    /// Media flows per media NIC, by name.
    public var flowsByNIC: [String: Int] {
        var out: [String: Int] = [:]
        for (port, n) in perNIC where n > 0 { out[nics[port]?.name ?? "port \(port)"] = n }
        return out
    }

    // MARK: inputs

    /// The bridge's media NICs changed (a new plan): calls follow their NICs' new targets and MACs;
    /// a call left with no media NIC loses its flows.
    public mutating func setNICs(_ list: [MediaNIC]) -> Output {
        var out = Output()
        let new = Dictionary(list.map { ($0.port, $0) }, uniquingKeysWith: { a, _ in a })
        guard new != nics else { return out }
        nics = new
        nicOfMAC = [:]
        for n in list { for m in n.macs { nicOfMAC[MediaTracker.key(m.bytes[...])] = n.port } }
        for callID in active.keys.sorted() {
            guard let call = active[callID] else { continue }
            let now = callNICs[callID, default: []].compactMap { nics[$0] }.sorted { $0.name < $1.name }
            if now != call.nics { install(callID, nics: now, destinations: call.destinations, into: &out) }
        }
        return out
    }

    /// A frame a copy flow sent to the controller (whole), received on `inPort`.
    public mutating func packetIn(frame: [UInt8], inPort: UInt32?, now: UInt64) -> Output {
        counters.packetIns += 1
        return sip(frame: frame, inPort: inPort, now: now)
    }

    /// A frame a copy flow output to the media feed port: no ingress port, so the media NIC is the
    /// one whose guest MAC is the frame's destination or source.
    public mutating func fed(frame: [UInt8], now: UInt64) -> Output {
        counters.fedFrames += 1
        return sip(frame: frame, inPort: nil, now: now)
    }

    private mutating func sip(frame: [UInt8], inPort: UInt32?, now: UInt64) -> Output {
        var out = Output()
        guard packetInBudget.take(now: now) else { counters.packetInsLimited += 1; return out }
        guard case let .success(f) = SIPFrame.decode(frame), case let .success(message) = SIPMessage.parse(f.payload) else {
            counters.notSIP += 1
            return out
        }
        // At most three ports (ingress, destination's, source's): a small array, not a set per frame.
        var seen: [UInt32] = []
        seen.reserveCapacity(3)
        func see(_ port: UInt32) { if !seen.contains(port) { seen.append(port) } }
        if let inPort, nics[inPort] != nil { see(inPort) }
        if frame.count >= 6, let port = nicOfMAC[MediaTracker.key(frame[0..<6])] { see(port) }
        // The sender by its source MAC only when the frame came without its ingress port (the feed):
        // with one, the port says who sent it and a source MAC proves nothing.
        if inPort == nil, frame.count >= 12, let port = nicOfMAC[MediaTracker.key(frame[6..<12])] { see(port) }
        guard !seen.isEmpty else { return out }
        let id = message.callID
        let failures = table.sdpFailures, refused = table.refused
        let isEarly = cameEarly(message)
        var changes = table.handle(message, now: now)
        if table.refused > refused {
            counters.refusedTable += table.refused - refused
            out.notes.append(.tableFull)
        }
        if table.contains(callID: id) {
            callNICs[id, default: []].formUnion(seen)
            // What came before this message and can be placed now, in its order (`EarlyMessages`).
            if early.holds(callID: id) { changes += replayEarly(id, now: now) }
        }
        if isEarly { early.hold(message, ports: seen, now: now) }
        counters.sdpFailures += table.sdpFailures - failures
        apply(changes, into: &out)
        return out
    }

    /// Whether the call table cannot place `m` yet because a message before it has not come: a
    /// response to the INVITE of a call not yet known, or an ACK or PRACK with SDP (the answer to a
    /// response's offer) in a dialog not yet known. On the kernel datapath the PACKET_INs of messages
    /// that crossed the bridge on different CPUs may come in either order.
    private func cameEarly(_ m: SIPMessage) -> Bool {
        switch m.start {
        case let .response(status):
            return status > 100 && m.cseq.method == "INVITE" && !table.contains(callID: m.callID)
        case let .request(method):
            return (method == "ACK" || method == "PRACK") && m.toTag != nil && m.sdp?.isEmpty == false
                && table.contains(callID: m.callID) && !table.knowsDialog(of: m)
        }
    }

    /// Applies a call's held messages that can be placed now, in their order; the others stay held.
    private mutating func replayEarly(_ id: String, now: UInt64) -> [CallChange] {
        var changes: [CallChange] = []
        for e in early.take(callID: id, now: now) {
            guard table.contains(callID: id) else { break }  // a held final response ended the call
            if cameEarly(e.message) { early.hold(e); continue }
            counters.reorderedMessages += 1
            changes += table.handle(e.message, now: now)
            if table.contains(callID: id) { callNICs[id, default: []].formUnion(e.ports) }
        }
        return changes
    }

    /// OVS removed a flow that had OFPFF_SEND_FLOW_REM (its idle timeout, or a delete).
    public mutating func flowRemoved(_ f: FlowRemoved) -> Output {
        var out = Output()
        let slot = FlowCookie.slot(of: f.cookie)
        guard slot != 0 else { return out }
        let key = FlowKey(table: f.tableID, priority: f.priority, match: f.match)
        let timedOut = f.reason != FlowRemoved.Reason.delete.rawValue
        if timedOut { counters.flowsExpired += 1 }
        if callOfSlot[slot] != nil {
            // Deletes are sipspan's own (already forgotten); a late one must not touch a reused slot,
            // nor a flow since placed again under another call's cookie.
            guard timedOut, let p = placed[key], active[p.holder]?.slot == slot else { return out }
            // The flow is gone for every call that shared it.
            for owner in forgetGone(key) {
                out.notes.append(.ended(callID: owner, reason: "media idle", flows: 0))
            }
        } else if var keys = adopted[slot] {
            keys.remove(key)
            adopted[slot] = keys.isEmpty ? nil : keys
        }
        return out
    }

    /// The bridge's flows as read back (connect or audit): media flows of no call here are adopted,
    /// flows of calls here that are gone (expired unnoticed) are forgotten: a call left with none ends.
    @discardableResult
    public mutating func synced(_ flows: [FlowStats]) -> Output {
        var out = Output()
        var bySlot: [UInt16: Set<FlowKey>] = [:]
        var present = Set<FlowKey>()
        for s in flows where FlowCookie.kind(of: s.cookie) == .media {
            let key = FlowKey(table: s.tableID, priority: s.priority, match: s.match)
            bySlot[FlowCookie.slot(of: s.cookie), default: []].insert(key)
            present.insert(key)
        }
        for key in placed.keys.sorted() where !present.contains(key) {
            for owner in forgetGone(key) { out.notes.append(.ended(callID: owner, reason: "flows gone from the bridge", flows: 0)) }
        }
        adopted = bySlot.filter { callOfSlot[$0.key] == nil && $0.key != 0 }
        return out
    }

    /// About once a second: calls whose offer/answer never completed, or silent for too long.
    public mutating func tick(now: UInt64) -> Output {
        var out = Output()
        early.prune(now: now)
        apply(table.expire(now: now), into: &out)
        return out
    }

    /// Six address bytes as one integer (the lookup key of `nicOfMAC`).
    static func key(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    // MARK: calls → flows

    private mutating func apply(_ changes: [CallChange], into out: inout Output) {
        for change in changes {
            switch change {
            case let .media(callID, negotiated):
                let callNics = callNICs[callID, default: []].compactMap { nics[$0] }.sorted { $0.name < $1.name }
                let selection: MediaSelection = callNics.contains { $0.selection == .rtp } ? .rtp : .rtcp
                var endpoints = Set<MediaEndpoint>()
                for n in negotiated { endpoints.formUnion(mediaEndpoints(offer: n.offer, answer: n.answer, selection: selection)) }
                let destinations = endpoints.compactMap { e in ipAddressBytes(e.address).flatMap { MediaDestination(address: $0, port: e.port) } }.sorted()
                install(callID, nics: callNics, destinations: destinations, into: &out)
            case let .ended(callID, reason):
                remove(callID, reason: reason.description, into: &out)
                callNICs[callID] = nil
                table.forget(callID: callID)
            }
        }
    }

    /// Brings one call's flows to `destinations` × `nics`: the difference only (a re-INVITE that
    /// changes a port moves that port's flows), within the budgets.
    private mutating func install(_ callID: String, nics callNics: [MediaNIC], destinations: [MediaDestination], into out: inout Output) {
        guard !callNics.isEmpty, !destinations.isEmpty else {
            remove(callID, reason: destinations.isEmpty ? "no active media" : "no media NIC", into: &out)
            return
        }
        let existing = active[callID]
        guard let slot = existing?.slot ?? freeSlot() else {
            counters.refusedBudget += 1
            out.notes.append(.overBudget(callID: callID, scope: "call slots"))
            return
        }
        let cookie = FlowCookie.mediaCookie(slot: slot, layout: layout)
        let wanted = Dictionary(MediaFlows.build(destinations, nics: callNics, cookie: cookie).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let old = existing?.flows ?? [:]
        // Budgets: the bridge's and each NIC's, counting flows on the bridge (a shared one once).
        let dropped = old.keys.filter { wanted[$0] == nil }.sorted()
        let fresh = wanted.keys.filter { placed[$0] == nil }
        let freed = dropped.filter { placed[$0]?.owners == [callID] }
        if placed.count + adoptedFlows - freed.count + fresh.count > limits.flowsPerBridge {
            counters.refusedBudget += 1
            out.notes.append(.overBudget(callID: callID, scope: "bridge (\(limits.flowsPerBridge) media flows)"))
            return
        }
        var growth: [UInt32: Int] = [:]
        for k in fresh { if let port = MediaTracker.port(of: k, callNics) { growth[port, default: 0] += 1 } }
        for k in freed { if let port = placed[k]?.port { growth[port, default: 0] -= 1 } }
        for (port, n) in growth.sorted(by: { $0.key < $1.key }) where n > 0 && perNIC[port, default: 0] + n > limits.flowsPerNIC {
            counters.refusedBudget += 1
            out.notes.append(.overBudget(callID: callID, scope: "\(nics[port]?.name ?? "port \(port)") (\(limits.flowsPerNIC) media flows)"))
            return
        }
        var mods: [FlowMod] = []
        var adds = 0, deletes = 0
        for k in dropped where unplace(k, of: callID, into: &mods) {
            mods.append(FlowMod(command: .deleteStrict, cookie: cookie, cookieMask: .max, tableID: k.table, priority: k.priority, match: k.match))
            deletes += 1
        }
        for f in wanted.values.sorted() {
            if var p = placed[f.key] {
                p.owners.insert(callID)
                // Another call's identical flow copies for this one too; a changed one (new targets) is replaced.
                if p.flow.instructions != f.instructions {
                    mods.append(addMod(f))
                    p.flow = f; p.holder = callID
                    adds += 1
                }
                placed[f.key] = p
            } else {
                let port = MediaTracker.port(of: f.key, callNics)
                placed[f.key] = Placement(flow: f, holder: callID, owners: [callID], port: port)
                if let port { perNIC[port, default: 0] += 1 }
                mods.append(addMod(f))
                adds += 1
            }
        }
        out.flowMods += mods
        counters.flowsAdded += adds
        counters.flowsRemoved += deletes
        active[callID] = Call(slot: slot, nics: callNics, destinations: destinations, flows: wanted)
        callOfSlot[slot] = callID
        if existing == nil {
            counters.callsStarted += 1
            out.notes.append(.started(callID: callID, flows: wanted.count, nics: callNics.map(\.name)))
        } else if adds > 0 || deletes > 0 || wanted.keys != old.keys {
            out.notes.append(.updated(callID: callID, flows: wanted.count))
        }
    }

    /// Deletes all of a call's flows by its cookie.
    private mutating func remove(_ callID: String, reason: String, into out: inout Output) {
        guard let call = active[callID] else { return }
        // Shared flows this call holds are handed over first: the delete by cookie then leaves them.
        var removed = 0
        for k in call.flows.keys.sorted() where unplace(k, of: callID, into: &out.flowMods) { removed += 1 }
        out.flowMods.append(FlowMod(command: .delete, cookie: FlowCookie.mediaCookie(slot: call.slot, layout: layout), cookieMask: .max,
                                    tableID: 0xff, match: .any))
        counters.flowsRemoved += removed
        counters.callsEnded += 1
        release(callID, slot: call.slot)
        out.notes.append(.ended(callID: callID, reason: reason, flows: call.flows.count))
    }

    /// The flow `key` is no longer on the bridge (its idle timeout, or missing when read back): gone
    /// for every call that shared it. Returns the calls it left with no flow, now ended (and counted).
    private mutating func forgetGone(_ key: FlowKey) -> [String] {
        guard let p = placed.removeValue(forKey: key) else { return [] }
        if let port = p.port { perNIC[port, default: 0] -= 1 }
        var ended: [String] = []
        for owner in p.owners.sorted() {
            guard var call = active[owner] else { continue }
            call.flows[key] = nil
            if call.flows.isEmpty { release(owner, slot: call.slot); ended.append(owner) } else { active[owner] = call }
        }
        counters.callsEnded += ended.count
        return ended
    }

    private mutating func release(_ callID: String, slot: UInt16) {
        active[callID] = nil
        if callOfSlot[slot] == callID { callOfSlot[slot] = nil }
    }

    /// `callID` no longer wants the flow `key`: true when no call does (the caller deletes it, by key
    /// or by cookie); a flow it held for others is re-added with another owner's cookie (to `mods`).
    private mutating func unplace(_ key: FlowKey, of callID: String, into mods: inout [FlowMod]) -> Bool {
        guard var p = placed[key] else { return false }
        p.owners.remove(callID)
        guard let next = p.owners.min() else {
            placed[key] = nil
            if let port = p.port { perNIC[port, default: 0] -= 1 }
            return true
        }
        if p.holder == callID {
            // The instructions on the bridge (the latest), under the next owner's cookie.
            let flow = Flow(table: key.table, priority: key.priority, match: key.match, instructions: p.flow.instructions,
                            cookie: FlowCookie.mediaCookie(slot: active[next]?.slot ?? 0, layout: layout))
            mods.append(addMod(flow))
            p.flow = flow; p.holder = next
        }
        placed[key] = p
        return false
    }

    /// The ADD of one media flow: idle timeout, FLOW_REMOVED when it goes.
    private func addMod(_ f: Flow) -> FlowMod {
        FlowMod(command: .add, cookie: f.cookie, tableID: f.table, priority: f.priority, match: f.match, instructions: f.instructions,
                idleTimeout: limits.idleTimeout, flags: FlowModFlags.sendFlowRemoved)
    }

    /// Which NIC a flow copies for: its `in_port`, else the NIC of its `eth_dst`.
    private static func port(of key: FlowKey, _ callNics: [MediaNIC]) -> UInt32? {
        if let p = key.match.inPort { return p }
        if let mac = key.match.ethDst, let nic = callNics.first(where: { $0.macs.contains(mac) }) { return nic.port }
        return nil
    }

    /// A slot no live or adopted call holds (1…65535).
    private mutating func freeSlot() -> UInt16? {
        for _ in 0..<Int(UInt16.max) {
            let s = nextSlot
            nextSlot = nextSlot == .max ? 1 : nextSlot + 1
            if callOfSlot[s] == nil && adopted[s] == nil { return s }
        }
        return nil
    }

}
