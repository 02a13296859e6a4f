import ArgumentParser
import FlowPlanning
import Foundation
import OpenFlow
import Policy

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the flows sipspan would install on a bridge with the given ports (no switch needed).")

    @Option(name: .long, help: "A policy file or directory (repeatable).")
    var policy: [String]

    @Option(name: .long, help: "A bridge port as NAME=OFPORT (repeatable), e.g. --port tap101i0=1.")
    var port: [String] = []

    @Option(name: .long, help: "A learned guest MAC as PORT=MAC (repeatable), e.g. --mac tap101i0=bc:24:11:00:00:01.")
    var mac: [String] = []

    @Option(name: .long, help: "Access VLAN of the monitor NICs.")
    var monitorVlan: UInt16 = 4094

    func run() throws {
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
}
