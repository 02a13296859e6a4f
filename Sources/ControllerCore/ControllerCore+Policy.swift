import FlowPlanning
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// The policy in force: applying an edit, refusing an invalid one, the reloads that follow, warnings.
extension ControllerCore {

    /// A valid policy was read (files changed, noticed by `trigger`): put it in force and reconcile
    /// every bridge. Nothing happens when it equals the policy in force.
    public mutating func apply(policy newPolicy: PolicySet, changedFiles: [String], trigger: String, detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        guard newPolicy != writtenPolicy else { return [] }
        writtenPolicy = newPolicy
        var out: [ControllerAction] = [.count(.reloadsApplied, by: 1)]
        out.append(.log(LogLine(.info, "policy reloaded", [
            "files": changedFiles.joined(separator: ","), "sessions": String(newPolicy.sessions.count), "trigger": trigger,
        ])))
        return tallied(out + replan(.policy, reason: "policy edit (\(changedFiles.joined(separator: ", ")))", detectedAt: detectedAt, now: now))
    }

    /// An edit made the policy invalid: nothing changes; the errors are logged in `check`'s format.
    /// `pmxcfsUnmounted`: the policy lives on pmxcfs, which is not mounted now (its files are
    /// unknown for a while, not gone): said so instead of calling it an invalid policy.
    public mutating func reject(policy errors: PolicyErrors, changedFiles: [String], trigger: String, pmxcfsUnmounted: Bool = false) -> [ControllerAction] {
        var out: [ControllerAction] = [.count(.reloadsRejected, by: 1)]
        if pmxcfsUnmounted {
            out.append(.log(LogLine(.warning, "policy files unreadable while pmxcfs is not mounted; the last valid policy stays in force", [
                "files": changedFiles.joined(separator: ","), "trigger": trigger,
            ])))
            return tallied(out)
        }
        out.append(.log(LogLine(.error, "policy rejected; the last valid policy stays in force", [
            "files": changedFiles.joined(separator: ","), "trigger": trigger,
        ])))
        for d in errors.diagnostics {
            for line in [d] + d.notes { out.append(.log(LogLine(.error, "\(line.location): \(line.severity.rawValue): \(line.message)"))) }
        }
        return tallied(out)
    }

    /// Re-resolves the policy and feeds every served bridge a plan change; one reload tracks the
    /// barriers they owe and is logged when the last one is answered (or its bridge is gone).
    mutating func replan(_ kind: PolicyReload.Kind, reason: String, detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        policy = writtenPolicy.resolved(with: inventory.groups)
        var out = updateWarnings()
        let reloadID = nextReload
        nextReload += 1
        var reload = PolicyReload(kind: kind, reason: reason, detectedAt: detectedAt)
        let context = planningContext(now: now)
        for id in byDatapath.values.sorted() {
            guard let actions = connections[id]?.session.handle(.planChanged(reload: reloadID), now: now, context: context) else { continue }
            var sent = (added: 0, removed: 0)
            for case let .changeSent(added, removed, _) in actions { sent.added += added; sent.removed += removed }
            out += translate(actions, of: id, now: now)
            guard sent.added + sent.removed > 0 else { continue }
            reload.added += sent.added; reload.removed += sent.removed
            reload.pending.insert(id)
            reload.bridges += 1
        }
        reloads[reloadID] = reload
        return out + finishReloadIfDone(reloadID, now: now)
    }

    mutating func finishReloadIfDone(_ id: Int, now: UInt64) -> [ControllerAction] {
        guard let r = reloads[id], r.pending.isEmpty else { return [] }
        reloads[id] = nil
        return [.log(LogLine(.info, r.kind == .policy ? "policy applied" : "inventory applied", [
            "change": r.reason, "added": String(r.added), "removed": String(r.removed), "bridges": String(r.bridges),
            "connected": String(byDatapath.count), "unconfirmed": String(r.lost), "ms": milliseconds(from: r.detectedAt, to: now, digits: 1),
        ]))]
    }

    /// Records where the runtime listens (bound addresses, for `status`).
    public mutating func listening(on addresses: [String]) { listening = addresses }

    /// Records a status endpoint the runtime serves (its bound address).
    public mutating func serving(statusEndpoint address: String) { statusEndpoints.append(address) }

    /// Adds the counter actions to `totals` and passes the actions on.
    mutating func tallied(_ actions: [ControllerAction]) -> [ControllerAction] {
        for case let .count(counter, n) in actions { totals[counter, default: 0] += n }
        return actions
    }

    /// Logs the warnings about the policy in force (at start), and that pmxcfs is not mounted if so.
    public mutating func logWarnings() -> [ControllerAction] {
        var out: [ControllerAction] = []
        if pveRoot != nil, case let .unavailable(reason) = pmxcfs {
            out.append(.log(LogLine(.warning, "pmxcfs unavailable at start; no inventory until it is mounted", ["reason": reason])))
        }
        return out + updateWarnings()
    }

    /// Recomputes the operator's warnings (policy against the cluster) and logs each new one once.
    mutating func updateWarnings() -> [ControllerAction] {
        guard !inventory.guests.isEmpty || !inventory.nodes.isEmpty else { warnings = []; return [] }
        var bridgesByNode: [String: Set<String>] = [:]
        for c in servedConnections { if let node = node(of: c) { bridgesByNode[node, default: []].insert(c.session.bridgeName) } }
        let fresh = InventoryWarnings.compute(policy: writtenPolicy, inventory: inventory, monitorVLAN: options.planner.monitorVLAN,
                                              ovsBridges: bridgesByNode.isEmpty ? nil : .perNode(bridgesByNode))
        let out: [ControllerAction] = fresh.filter { !warnings.contains($0) }.map {
            .log(LogLine(.warning, $0.message, ["where": $0.location.description]))
        }
        warnings = fresh
        return out
    }
}
