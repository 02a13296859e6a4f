import ArgumentParser
import Controller
import ControllerCore
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the bridges a running `sipspan serve` controls (from its --status endpoint).")

    @Option(name: .long, help: "The serve process's --status address (default: unix:/run/sipspan/status.sock when it exists, else 127.0.0.1:9653).")
    var server: String = StatusEndpoint.defaultAddress

    @Flag(name: .long, help: "Print the raw JSON.")
    var json = false

    func run() throws {
        let body: [UInt8]
        do {
            body = try StatusClient.request(server, path: "/status")
        } catch {
            FileHandle.standardError.write(Data("sipspan status: cannot reach \(server): \(error)\n(is `sipspan serve` running with --status \(server)?)\n".utf8))
            throw ExitCode(1)
        }
        if json { print(String(decoding: body, as: UTF8.self)); return }
        let status = try JSONDecoder().decode(ControllerStatus.self, from: Data(body))
        print("sipspan up \(formatDuration(status.uptimeSeconds)); sessions: \(status.sessions.joined(separator: ", ")); \(status.bridges.count) connection(s)")
        let rows = status.bridges.map { b in
            [b.displayName, b.datapathID ?? "-", b.peer, b.state.rawValue, formatDuration(b.connectedSeconds), String(b.ports), String(b.flows),
             b.watchedPorts.isEmpty ? "-" : b.watchedPorts.joined(separator: ","), b.monitorPorts.isEmpty ? "-" : b.monitorPorts.joined(separator: ","),
             String(b.learnedMACs)]
        }
        let header = ["BRIDGE", "DPID", "PEER", "STATE", "UP", "PORTS", "FLOWS", "WATCHED", "MONITORS", "LEARNED"]
        print(table([header] + rows))
        for b in status.bridges where !b.watchedGuests.isEmpty { print("\(b.displayName) watches \(b.watchedGuests.joined(separator: ", "))") }
        for b in status.bridges {
            guard let m = b.media else { continue }
            let c = m.counters
            var line = "\(b.displayName) media: \(m.activeCalls) call(s) with copies (\(m.flows) flows"
            if m.adoptedFlows > 0 { line += ", \(m.adoptedFlows) adopted from a previous sipspan" }
            line += "), \(m.trackedCalls) followed; since connect \(c.callsStarted) started, \(c.callsEnded) ended, "
            line += "\(c.refusedBudget + c.refusedTable) SIP-only (budget/table), \(c.packetIns) SIP packet-ins, \(c.fedFrames) from the feed"
            line += " (\(c.packetInsLimited) over the rate), \(c.sdpFailures) bad SDP; SIP read \(m.feed.map { "from media feed port \($0)" } ?? "as PACKET_INs")"
            print(line)
        }
        for b in status.bridges { for n in b.notices { print("\(b.bridge): \(n)") } }
        let pve = status.pmxcfs
        switch pve.state {
        case .mounted:
            print("pmxcfs: mounted at \(pve.root ?? "?"); inventory (\(status.inventoryGuests) guests) read \(formatDuration(pve.inventoryAgeSeconds ?? 0)) ago")
        case .unavailable:
            print("pmxcfs: NOT MOUNTED at \(pve.root ?? "?") for \(formatDuration(pve.sinceSeconds ?? 0)) (\(pve.reason ?? "?")); "
                + (pve.inventoryAgeSeconds.map { "the inventory read \(formatDuration($0)) ago stays in force" } ?? "no inventory yet"))
        case .none:
            break
        }
        if status.inventoryGuests == 0 { print("no Proxmox inventory: guest MACs are learned from frames (spoofable)") }
        for w in status.warnings { print(w) }
    }

    private func table(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { r in r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n")
    }

    private func formatDuration(_ s: Double) -> String {
        let t = Int(s)
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m\(t % 60)s" }
        return "\(t / 3600)h\(t / 60 % 60)m"
    }
}

