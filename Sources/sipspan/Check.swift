import ArgumentParser
import Foundation
import Policy
import ProxmoxInventory

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate policy files; print every error as FILE:LINE:COLUMN: error: MESSAGE.")

    enum Format: String, ExpressibleByArgument { case text, json }

    @Argument(help: "Policy files and/or directories.")
    var paths: [String]

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    @Flag(name: .long, help: "Colour the output (default: only when stdout is a terminal).")
    var color = false

    @OptionGroup var pveOption: PVEOption

    @Option(name: .long, help: "Open vSwitch bridges sipspan controls, comma-separated (default: the OVSBridge stanzas of --interfaces).")
    var ovsBridges: String?

    @Option(name: .long, help: "The node's ifupdown2 configuration, for its OVS bridges.")
    var interfaces: String = "/etc/network/interfaces"

    @Option(name: .long, help: "Access VLAN of the monitor NICs.")
    var monitorVlan: UInt16 = 4094

    func run() throws {
        let useColor = color || isatty(STDOUT_FILENO) == 1
        switch PolicyLoader.load(paths: paths) {
        case let .success(set):
            let warnings = clusterWarnings(set)
            switch format {
            case .json:
                print(json(["valid": true, "sessions": set.sessions.map(sessionJSON), "diagnostics": warnings.map(diagnosticJSON)]))
            case .text:
                for s in set.sessions { print(s.summary) }
                for w in warnings { print(render(w, color: useColor)) }
                print("\(set.sessions.count) session(s) valid" + (warnings.isEmpty ? "" : ", \(warnings.count) warning(s)"))
            }
        case let .failure(errors):
            switch format {
            case .json:
                let all = errors.diagnostics.flatMap { [$0] + $0.notes }
                print(json(["valid": false, "diagnostics": all.map(diagnosticJSON)]))
            case .text:
                for d in errors.diagnostics {
                    for line in [d] + d.notes { print(render(line, color: useColor)) }
                }
            }
            throw ExitCode(1)
        }
    }

    /// Warnings about the policy against the cluster (and guest configs sipspan cannot use), with `--pve`.
    private func clusterWarnings(_ set: PolicySet) -> [Diagnostic] {
        guard let root = pveOption.root else { return [] }
        let (files, readProblems) = InventoryReader.read(root: root)
        let loaded = InventoryLoader.load(files: files, root: root)
        var bridges: OVSBridges? = nil
        if let list = ovsBridges {
            bridges = .clusterWide(Set(list.split(separator: ",").map { String($0) }))
        } else if let bytes = try? BoundedFile.read(interfaces, limit: 1 << 20) {
            let found = NetworkInterfaces.ovsBridges(String(decoding: bytes, as: UTF8.self))
            if !found.isEmpty { bridges = .clusterWide(found) }
        }
        let unusable = (readProblems + loaded.diagnostics).map {
            Diagnostic(.warning, $0.location, $0.message + " (sipspan ignores this guest config until it is fixed)")
        }
        return (unusable + InventoryWarnings.compute(policy: set, inventory: loaded.inventory, monitorVLAN: monitorVlan, ovsBridges: bridges, root: root)).sorted()
    }

    private func diagnosticJSON(_ d: Diagnostic) -> [String: Any] {
        ["file": d.location.file, "line": d.location.line, "column": d.location.column, "severity": d.severity.rawValue, "message": d.message]
    }

    private func render(_ d: Diagnostic, color: Bool) -> String {
        guard color else { return "\(d.location): \(d.severity.rawValue): \(d.message)" }
        let sev: String
        switch d.severity {
        case .error: sev = "\u{1b}[1;31merror\u{1b}[0m"
        case .warning: sev = "\u{1b}[1;35mwarning\u{1b}[0m"
        case .note: sev = "\u{1b}[1;36mnote\u{1b}[0m"
        }
        return "\u{1b}[1m\(d.location):\u{1b}[0m \(sev): \u{1b}[1m\(d.message)\u{1b}[0m"
    }

    private func sessionJSON(_ s: MirrorSession) -> [String: Any] {
        let watch: Any
        switch s.watch {
        case .all: watch = "all"
        case let .ports(p): watch = p.map(\.description)
        }
        return ["name": s.name, "file": s.file, "monitor": s.monitors.map(\.description), "watch": watch, "traffic": s.traffic.map(\.description)]
    }

    private func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
