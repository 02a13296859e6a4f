import FlowPlanning
import Foundation
import Policy
import ProxmoxInventory

/// `sipspan plan DIR` against a running serve: the policy files sent, and what applying them would change.
public struct PlanRequest: Codable, Sendable {
    public struct File: Codable, Sendable {
        public let file: String
        public let content: String
        public init(file: String, content: String) { self.file = file; self.content = content }
    }
    public let files: [File]
    public init(files: [File]) { self.files = files }
}

/// The answer of a dry run: nothing is applied.
public struct PlanPreview: Codable, Sendable {
    public struct Bridge: Codable, Sendable {
        public let bridge: String
        public let datapathID: String
        public let added: [String]
        public let removed: [String]
        public let copiesStart: [String]
        public let copiesStop: [String]
    }
    public let valid: Bool
    /// `FILE:LINE:COLUMN: error: …` when the policy is invalid.
    public let diagnostics: [String]
    public let bridges: [Bridge]
}

extension SipspanController {
    /// Plans `body` (a JSON `PlanRequest`) against every connected bridge without applying anything.
    public func dryRun(_ body: [UInt8]) -> StatusServer.Response {
        guard let request = try? JSONDecoder().decode(PlanRequest.self, from: Data(body)) else {
            return ("400 Bad Request", "text/plain", Array("expected a JSON plan request\n".utf8))
        }
        let contents = request.files.map { (file: $0.file, bytes: Array($0.content.utf8)) }
        let preview: PlanPreview
        switch PolicyLoader.load(contents: contents) {
        case let .failure(errors):
            preview = PlanPreview(valid: false, diagnostics: errors.diagnostics.flatMap { [$0] + $0.notes }.map(\.description), bridges: [])
        case let .success(set):
            preview = queue.sync { previewLocked(set) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return ("200 OK", "application/json", (try? encoder.encode(preview)).map { [UInt8]($0) } ?? [])
    }

    /// Runs on the queue: the difference between each bridge's plan in force and the plan under `set`.
    private func previewLocked(_ set: PolicySet) -> PlanPreview {
        let resolved = set.resolved(with: inventory.groups)
        var bridges: [PlanPreview.Bridge] = []
        for b in readyConnections {
            let s = b.session
            let known = inventory.macs(forPorts: s.ports.keys)
            let now = options.planner.plan(policy: policy, ports: s.ports, macs: s.macs, knownMACs: known)
            let next = options.planner.plan(policy: resolved, ports: s.ports, macs: s.macs, knownMACs: known)
            let diff = FlowDiff(installed: now.flows, desired: next.flows)
            let before = Set(guestLabels(now.watchedPorts)), after = Set(guestLabels(next.watchedPorts))
            bridges.append(PlanPreview.Bridge(bridge: displayName(of: b), datapathID: s.dpidText,
                                              added: diff.adds.map(\.description), removed: diff.deletes.map(\.description),
                                              copiesStart: after.subtracting(before).sorted(), copiesStop: before.subtracting(after).sorted()))
        }
        return PlanPreview(valid: true, diagnostics: [], bridges: bridges.sorted { $0.bridge < $1.bridge })
    }
}
