import ArgumentParser
import Controller
import ControllerCore
import FlowPlanning
import Foundation
import OpenFlow
import Policy

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What applying policies would change: live (`plan DIR`, asks the running serve, applies nothing) or offline (`--policy … --port …`).",
        discussion: """
            sipspan plan /etc/pve/sipspan-next          # per node/bridge: flows added/removed, guests whose copies start/stop
            sipspan plan --policy p.yaml --port tap101i0=1 --port tap900i1=3   # the flows for a bridge you describe
            """)

    @Argument(help: "Policy files or directories to preview against the running serve.")
    var paths: [String] = []

    @Option(name: .long, help: "The running serve's status endpoint, loopback HOST:PORT or unix:/PATH (default: unix:/run/sipspan/status.sock when it exists, else 127.0.0.1:9653).")
    var server: String = StatusEndpoint.defaultAddress

    @Option(name: .long, help: "Offline: a policy file or directory (repeatable).")
    var policy: [String] = []

    @Option(name: .long, help: "A bridge port as NAME=OFPORT (repeatable), e.g. --port tap101i0=1.")
    var port: [String] = []

    @Option(name: .long, help: "A learned guest MAC as PORT=MAC (repeatable), e.g. --mac tap101i0=bc:24:11:00:00:01.")
    var mac: [String] = []

    @Option(name: .long, help: "Access VLAN of the monitor NICs.")
    var monitorVlan: UInt16 = 4094

    func validate() throws {
        guard paths.isEmpty != policy.isEmpty else {
            throw ValidationError("give policy paths for a live plan (sipspan plan DIR), or --policy with --port for an offline one")
        }
    }

    func run() throws {
        if !paths.isEmpty { return try live() }
        let set: PolicySet
        switch PolicyLoader.load(paths: policy) {
        case let .failure(e):
            FileHandle.standardError.write(Data((e.description + "\n").utf8))
            throw ExitCode(1)
        case let .success(s): set = s
        }
        var ports: [String: UInt32] = [:]
        for p in port {
            let parts = p.split(separator: "=")
            guard parts.count == 2, let n = UInt32(parts[1]), n >= 1, n <= PortNumber.max else {
                throw ValidationError("--port expects NAME=OFPORT, got '\(p)'")
            }
            ports[String(parts[0])] = n
        }
        var macs = GuestMACTable()
        for m in mac {
            let parts = m.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let addr = MACAddress(String(parts[1])) else {
                throw ValidationError("--mac expects PORT=aa:bb:cc:dd:ee:ff, got '\(m)'")
            }
            macs.learn(addr, on: String(parts[0]))
        }
        let plan = FlowPlanner(monitorVLAN: monitorVlan).plan(policy: set, ports: ports, macs: macs)
        for n in plan.notices { print("# notice: \(n)") }
        print("# watched: \(plan.watchedPorts.joined(separator: " ")); monitors: \(plan.monitorPorts.joined(separator: " ")); \(plan.flows.count) flows")
        for f in plan.flows { print(f) }
    }

    /// Validates locally (check's format), sends the files to the running serve, prints its preview.
    private func live() throws {
        var files: [PlanRequest.File] = []
        var problems: [Diagnostic] = []
        for path in paths {
            do {
                for f in try PolicyLoader.files(at: path) { files.append(PlanRequest.File(file: f, content: String(decoding: try PolicyLoader.read(file: f), as: UTF8.self))) }
            } catch let e as PolicyErrors { problems += e.diagnostics }
        }
        if case let .failure(e) = PolicyLoader.load(contents: files.map { (file: $0.file, bytes: Array($0.content.utf8)) }) { problems += e.diagnostics }
        guard problems.isEmpty else {
            print(PolicyErrors(problems).description)
            throw ExitCode(1)
        }
        let body: [UInt8]
        do {
            body = try StatusClient.request(server, path: "/plan", body: Array(try JSONEncoder().encode(PlanRequest(files: files))))
        } catch {
            FileHandle.standardError.write(Data("sipspan plan: cannot reach a running serve at \(server): \(error)\n(start `sipspan serve`, or use --policy with --port for an offline plan)\n".utf8))
            throw ExitCode(1)
        }
        let preview = try JSONDecoder().decode(PlanPreview.self, from: Data(body))
        guard preview.valid else {
            for d in preview.diagnostics { print(d) }
            throw ExitCode(1)
        }
        if preview.bridges.isEmpty { print("no bridge is connected to this sipspan: nothing would change") }
        for b in preview.bridges {
            print("\(b.bridge) (dpid \(b.datapathID)): +\(b.added.count) -\(b.removed.count) flows" +
                  (b.copiesStart.isEmpty ? "" : "; copies start: \(b.copiesStart.joined(separator: ", "))") +
                  (b.copiesStop.isEmpty ? "" : "; copies stop: \(b.copiesStop.joined(separator: ", "))"))
            for f in b.removed { print("  - \(f)") }
            for f in b.added { print("  + \(f)") }
        }
        print("nothing was applied")
    }
}
