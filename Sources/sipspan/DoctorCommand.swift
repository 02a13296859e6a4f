import ArgumentParser
import Foundation
import NodeDoctor
import Policy
import ProxmoxInventory

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this node's Open vSwitch, /etc/network/interfaces and guests for what would stop copies or break forwarding (read-only).")

    enum Format: String, ExpressibleByArgument { case text, json }

    @Option(name: .long, help: "ovs-vsctl's database (default: the local Open vSwitch).")
    var db: String?

    @Option(name: .long, help: "The node's ifupdown2 configuration.")
    var interfaces: String = "/etc/network/interfaces"

    @OptionGroup var pveOption: PVEOption

    @Option(name: .long, help: "Policy files or directory (default: /etc/pve/sipspan when it exists).")
    var policy: [String] = []

    @Option(name: .long, help: "The controller target the fixes name.")
    var controller: String = "unix:/var/run/openvswitch/sipspan.sock"

    @Option(name: .long, help: "Access VLAN of the monitor NICs.")
    var monitorVlan: UInt16 = 4094

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    func run() throws {
        var findings: [Finding] = []
        var notes: [String] = []
        // Open vSwitch.
        var snapshot = OVSSnapshot(bridges: [])
        do {
            snapshot = try OVSSnapshot.parse(bridges: try vsctl(["--columns=name,controller,fail_mode,protocols,ports", "list", "Bridge"]),
                                             ports: try vsctl(["--columns=_uuid,name,tag,trunks", "list", "Port"]),
                                             controllers: try vsctl(["--columns=_uuid,target", "list", "Controller"]),
                                             interfaces: try vsctl(["--columns=name,type,options", "list", "Interface"]))
        } catch {
            findings.append(Finding("Open vSwitch", "cannot read its configuration: \(error)", fix: "systemctl start openvswitch-switch   (apt-get install openvswitch-switch if it is missing)"))
        }
        // ifupdown2.
        var interfacesText: String? = nil
        do {
            let bytes = try BoundedFile.read(interfaces, limit: 4 << 20)
            if bytes.contains(0) { throw BoundedFile.ReadError(reason: "binary content (a NUL byte)") }
            interfacesText = String(decoding: bytes, as: UTF8.self)
        } catch {
            findings.append(Finding(interfaces, "cannot read it (\(error)): whether the controller survives ifreload -a is unknown",
                                    fix: "restore the node's network configuration (Proxmox UI: System, Network)"))
        }
        // Proxmox and the policies.
        var inventory: Inventory? = nil
        let root = pveOption.root
        if let root {
            let (files, problems) = InventoryReader.read(root: root)
            let loaded = InventoryLoader.load(files: files, root: root)
            inventory = loaded.inventory
            for d in problems + loaded.diagnostics { notes.append("\(d.description) (this guest is not checked)") }
        } else {
            notes.append("no /etc/pve: guest checks skipped")
        }
        var set: PolicySet? = nil
        let policyPaths = policy.isEmpty ? (root.map { ["\($0)/sipspan"] }?.filter { FileManager.default.fileExists(atPath: $0) } ?? []) : policy
        if !policyPaths.isEmpty {
            switch PolicyLoader.load(paths: policyPaths) {
            case let .success(s): set = s
            case let .failure(e):
                findings.append(Finding("policies", "invalid, guest checks skipped:\n" + e.description, fix: "sipspan check \(policyPaths.joined(separator: " "))"))
            }
        } else {
            notes.append("no policies: monitor and watched-guest checks skipped")
        }
        let doctor = Doctor(controller: controller, monitorVLAN: monitorVlan, interfacesPath: interfaces)
        findings += doctor.findings(ovs: snapshot, interfaces: interfacesText, inventory: inventory, policy: set, localNode: inventory?.localNode)
        switch format {
        case .json:
            let out: [String: Any] = ["findings": findings.map { ["subject": $0.subject, "problem": $0.problem, "fix": $0.fix] }, "notes": notes,
                                      "bridges": snapshot.bridges.map(\.name)]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        case .text:
            for n in notes { print("note: \(n)") }
            for f in findings { print(f) }
            print(findings.isEmpty ? "no problems found (bridges: \(snapshot.bridges.map(\.name).joined(separator: ", ")))" : "\(findings.count) problem(s)")
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }

    /// `ovs-vsctl --format=json …`, bounded in time and output.
    private func vsctl(_ args: [String]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ovs-vsctl", "--timeout=5", "--format=json"] + (db.map { ["--db=\($0)"] } ?? []) + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw OVSSnapshot.ParseError(description: String(decoding: errData.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return [UInt8](data.prefix(64 << 20))
    }
}
