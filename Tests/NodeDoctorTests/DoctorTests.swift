import NodeDoctor
import Policy
import ProxmoxInventory
import TestSupport
import XCTest

/// `sipspan doctor`'s checks on fixtures in the real formats: ovs-vsctl's JSON, ifupdown2's interfaces, pmxcfs.
final class DoctorTests: XCTestCase {
    static func ovs(failMode: String = "standalone", protocols: String = "[\"set\",[\"OpenFlow10\",\"OpenFlow13\"]]", controller: Bool = true,
                    bondTrunks: String = "[\"set\",[]]", monitorTag: String = "4094", extraPort: (name: String, tag: String)? = nil,
                    target: String = "unix:/var/run/openvswitch/sipspan.sock", interfaceTypes: [String: String] = [:]) throws -> OVSSnapshot {
        let ports = [("p1", "bond0", "[\"set\",[]]", bondTrunks), ("p2", "tap101i0", "[\"set\",[]]", "[\"set\",[]]"), ("p3", "tap900i1", monitorTag, "[\"set\",[]]"),
                     ("p4", "vmbr0", "[\"set\",[]]", "[\"set\",[]]")] + (extraPort.map { [("p5", $0.name, $0.tag, "[\"set\",[]]")] } ?? [])
        let portRows = ports.map { "[[\"uuid\",\"\($0.0)\"],\"\($0.1)\",\($0.2),\($0.3)]" }.joined(separator: ",")
        let portRefs = ports.map { "[\"uuid\",\"\($0.0)\"]" }.joined(separator: ",")
        let bridges = "{\"data\":[[\"vmbr0\",\(controller ? "[\"uuid\",\"c1\"]" : "[\"set\",[]]"),\"\(failMode)\",\(protocols),[\"set\",[\(portRefs)]]]],\"headings\":[\"name\",\"controller\",\"fail_mode\",\"protocols\",\"ports\"]}"
        return try OVSSnapshot.parse(bridges: Array(bridges.utf8),
                                     ports: Array("{\"data\":[\(portRows)],\"headings\":[\"_uuid\",\"name\",\"tag\",\"trunks\"]}".utf8),
                                     controllers: Array("{\"data\":[[[\"uuid\",\"c1\"],\"\(target)\"]],\"headings\":[\"_uuid\",\"target\"]}".utf8),
                                     interfaces: interfaceTypes.isEmpty ? nil : Array(("{\"data\":[" + interfaceTypes.sorted { $0.key < $1.key }.map { "[\"\($0.key)\",\"\($0.value)\",[\"map\",[]]]" }.joined(separator: ",")
                                                                                       + "],\"headings\":[\"name\",\"type\",\"options\"]}").utf8))
    }

    static let goodInterfaces = Fixtures.interfaces

    func inventory(monitorFirewall: Bool = false) -> Inventory {
        let files = [
            ".members": #"{"nodename": "pve1", "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}}}"#,
            "nodes/pve1/qemu-server/101.conf": "name: sip\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\nnet1: virtio=BC:24:11:00:01:11,bridge=vmbr1\n",
            "nodes/pve1/qemu-server/900.conf": "name: mon\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094\(monitorFirewall ? ",firewall=1" : "")\n",
        ]
        return InventoryLoader.load(files: files.mapValues { Array($0.utf8) }, root: "/etc/pve").inventory
    }

    var policy: PolicySet {
        (try? PolicySet([PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101, nic: 0}]\n", file: "p.yaml", defaultName: "p").get()])) ?? .empty
    }

    func run(_ ovs: OVSSnapshot, interfaces: String? = goodInterfaces, inventory: Inventory? = nil) -> [Finding] {
        Doctor().findings(ovs: ovs, interfaces: interfaces, inventory: inventory ?? self.inventory(), policy: policy, localNode: "pve1")
    }

    func testAWellSetUpNodeHasNoFindings() throws {
        XCTAssertEqual(run(try Self.ovs()), [])
    }

    func testEachMistakeIsOneFindingWithItsFix() throws {
        let noController = run(try Self.ovs(controller: false))
        XCTAssertEqual(noController.map(\.subject), ["vmbr0"])
        XCTAssertTrue(noController.first?.fix.hasPrefix("ovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock") ?? false, "\(noController)")

        let notPersisted = run(try Self.ovs(), interfaces: Self.goodInterfaces.replacingOccurrences(of: "\tovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock\n", with: ""))
        XCTAssertEqual(notPersisted.count, 1)
        XCTAssertTrue(notPersisted.first?.problem.contains("ifreload -a") ?? false)

        // A unix: controller outside OVS's run directory: ovs-vswitchd refuses to connect to it.
        let elsewhere = run(try Self.ovs(target: "unix:/run/sipspan/sipspan.sock"),
                            interfaces: Self.goodInterfaces.replacingOccurrences(of: "unix:/var/run/openvswitch/sipspan.sock", with: "unix:/run/sipspan/sipspan.sock"))
        XCTAssertEqual(elsewhere.count, 1, "\(elsewhere)")
        XCTAssertTrue(elsewhere.first?.problem.contains("refused by ovs-vswitchd") ?? false)
        XCTAssertTrue(elsewhere.first?.fix.hasPrefix("ovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock") ?? false)

        let secure = run(try Self.ovs(failMode: "secure"))
        XCTAssertEqual(secure.map { String($0.problem.prefix(16)) }, ["fail_mode=secure"])
        XCTAssertTrue(secure.first?.fix.hasPrefix("ovs_extra set bridge vmbr0 fail-mode=standalone protocols=OpenFlow10,OpenFlow13") ?? false)

        let of10 = run(try Self.ovs(protocols: "\"OpenFlow10\""))
        XCTAssertEqual(of10.count, 1)
        XCTAssertTrue(of10.first?.problem.contains("lacks OpenFlow13") ?? false)

        let trunks = run(try Self.ovs(bondTrunks: "[\"set\",[1,2,3,4093]]"))
        XCTAssertEqual(trunks.map(\.subject), ["port bond0"])
        XCTAssertTrue(trunks.first?.fix.hasPrefix("ovs-vsctl set port bond0 trunks=0-4093") ?? false)

        let untagged = run(try Self.ovs(monitorTag: "[\"set\",[]]"))
        XCTAssertEqual(untagged.map(\.subject), ["monitor tap900i1"])
        XCTAssertEqual(untagged.first?.fix, "qm set 900 --net1 virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0")

        let firewall = run(try Self.ovs(), inventory: inventory(monitorFirewall: true))
        XCTAssertEqual(firewall.map(\.subject), ["monitor tap900i1"])
        XCTAssertTrue(firewall.first?.problem.contains("firewall is on") ?? false)

        let onMonitorVLAN = run(try Self.ovs(extraPort: ("tap104i0", "4094")))
        XCTAssertEqual(onMonitorVLAN.map(\.subject), ["port tap104i0"])

        // Watching net1 of VM 101, which sits on the Linux bridge vmbr1.
        let wrongBridge = Doctor().findings(ovs: try Self.ovs(), interfaces: Self.goodInterfaces, inventory: inventory(),
                                            policy: try PolicySet([PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n", file: "p.yaml", defaultName: "p").get()]),
                                            localNode: "pve1")
        XCTAssertEqual(wrongBridge.map(\.subject), ["VM 101 (sip) net1"])
        XCTAssertEqual(wrongBridge.first?.fix, "qm set 101 --net1 virtio=BC:24:11:00:01:11,bridge=vmbr0")
    }

    /// A media feed port as the guide sets it up (internal, monitor VLAN) is no finding (not even "on the
    /// monitor VLAN but no monitor"); another type, or another VLAN, is one each.
    func testAMediaFeedPortMustBeInternalAndOnTheMonitorVLAN() throws {
        XCTAssertEqual(run(try Self.ovs(extraPort: ("sipfeed0", "4094"), interfaceTypes: ["sipfeed0": "internal"])), [])
        let system = run(try Self.ovs(extraPort: ("sipfeed0", "4094"), interfaceTypes: ["sipfeed0": ""]))
        XCTAssertEqual(system.map(\.subject), ["port sipfeed0"])
        XCTAssertTrue(system.first?.problem.contains("only an internal port") ?? false, "\(system)")
        XCTAssertTrue(system.first?.fix.contains("ovs_type OVSIntPort") ?? false)
        let untagged = run(try Self.ovs(extraPort: ("sipfeed0", "[\"set\",[]]"), interfaceTypes: ["sipfeed0": "internal"]))
        XCTAssertEqual(untagged.map(\.subject), ["port sipfeed0"])
        XCTAssertTrue(untagged.first?.fix.hasPrefix("ovs-vsctl set port sipfeed0 tag=4094") ?? false, "\(untagged)")
    }

    func testMalformedOVSOutputIsAnErrorNotACrash() {
        for junk in ["", "{", "[]", "{\"headings\": 3}", String(repeating: "[", count: 10_000)] {
            XCTAssertThrowsError(try OVSSnapshot.parse(bridges: Array(junk.utf8), ports: Array(junk.utf8), controllers: Array(junk.utf8)))
        }
    }
}
