import OpenFlow
import Policy
@testable import ProxmoxInventory
import TestSupport
import XCTest

/// Guest configs, `.vmlist`, `.members` and `user.cfg` in the formats pmxcfs holds them.
final class GuestConfigParserTests: XCTestCase {
    static let qemu = """
        boot: order=scsi0;net0
        cores: 2
        memory: 4096
        name: sip-proxy-1
        net0: virtio=BC:24:11:5E:2A:01,bridge=vmbr0,firewall=1,tag=10
        net1: e1000=bc:24:11:5e:2a:02,bridge=vmbr1,trunks=10;20,link_down=1
        net2: virtio,bridge=vmbr0
        ostype: l26
        scsi0: local-lvm:vm-101-disk-0,size=32G
        tags: sip-proxy;Carrier
        vmgenid: 1c2f0a4e-8a41-4d9c-9d7e-5f7a4c3c2b10

        [PENDING]
        net0: virtio=BC:24:11:5E:2A:99,bridge=vmbr9
        tags: pending-only

        [before-upgrade]
        name: old-name
        net3: virtio=BC:24:11:00:00:03,bridge=vmbr0
        snaptime: 1700000000
        """

    func testQEMUTopSectionOnly() throws {
        let g = try GuestConfigParser.parse(bytes: Array(Self.qemu.utf8), file: "101.conf", vmid: 101, kind: .qemu, node: "pve1").get()
        XCTAssertEqual(g.name, "sip-proxy-1")
        XCTAssertEqual(g.label, "101 (sip-proxy-1)")
        XCTAssertEqual(g.tags, ["sip-proxy", "carrier"])
        XCTAssertEqual(g.nics.keys.sorted(), [0, 1, 2], "net3 of the snapshot is not current")
        let n0 = try XCTUnwrap(g.nics[0])
        XCTAssertEqual(n0.mac, MACAddress("bc:24:11:5e:2a:01"))
        XCTAssertEqual(n0.bridge, "vmbr0")
        XCTAssertEqual(n0.tag, 10)
        XCTAssertTrue(n0.firewall)
        XCTAssertFalse(n0.linkDown)
        let n1 = try XCTUnwrap(g.nics[1])
        XCTAssertEqual(n1.mac, MACAddress("bc:24:11:5e:2a:02"))
        XCTAssertEqual(n1.trunks, "10;20")
        XCTAssertTrue(n1.linkDown)
        XCTAssertNil(g.nics[2]?.mac, "a model without a MAC yet")
        XCTAssertEqual(n0.portNames(vmid: 101, kind: .qemu), ["tap101i0", "fwln101o0"])
    }

    func testLXC() throws {
        let text = "arch: amd64\nhostname: sip-ct\nnet0: name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:AA:BB:CC,ip=dhcp,type=veth,tag=20\nrootfs: local:200/vm-200-disk-0.raw,size=8G\n"
        let g = try GuestConfigParser.parse(bytes: Array(text.utf8), file: "200.conf", vmid: 200, kind: .lxc, node: "pve2").get()
        XCTAssertEqual(g.name, "sip-ct")
        XCTAssertEqual(g.nics[0]?.mac, MACAddress("bc:24:11:aa:bb:cc"))
        XCTAssertEqual(g.nics[0]?.tag, 20)
        XCTAssertEqual(g.nics[0]?.portNames(vmid: 200, kind: .lxc), ["veth200i0", "fwln200o0"])
    }

    func testBrokenConfigsAreDiagnosedWithFileLineColumn() {
        let cases: [(String, String)] = [
            ("name: x\nnet0: virtio=BC:24:11:5E:2A,bridge=vmbr0\n", "f.conf:2:7: error: net0: invalid MAC address 'BC:24:11:5E:2A'"),
            ("net1: virtio=BC:24:11:5E:2A:01,bridge=vmbr0,tag=5000\n", "f.conf:1:45: error: net1: 'tag' must be a VLAN id 1..4094, found '5000'"),
            ("net0: virtio=BC:24:11:5E:2A:01,firewall=maybe\n", "f.conf:1:32: error: net0: 'firewall' must be 0 or 1, found 'maybe'"),
            ("just text without a colon\n", "f.conf:1:1: error: expected 'key: value'"),
            ("net0: virtio=01:00:5E:00:00:01,bridge=vmbr0\n", "f.conf:1:7: error: net0: invalid MAC address '01:00:5E:00:00:01'"),
        ]
        for (text, expected) in cases {
            guard case let .failure(e) = GuestConfigParser.parse(bytes: Array(text.utf8), file: "f.conf", vmid: 101, kind: .qemu, node: "n") else {
                XCTFail("accepted: \(text)"); continue
            }
            XCTAssertEqual(e.description, expected)
        }
        XCTAssertNotNil(try? GuestConfigParser.parse(bytes: Array("net0: virtio=BC:24:11:5E:2A:01,bridge=vmbr0\r\n".utf8), file: "f", vmid: 1, kind: .qemu, node: "n").get(), "CRLF")
        guard case .failure = GuestConfigParser.parse(bytes: [0x6e, 0, 0x3a], file: "f", vmid: 1, kind: .qemu, node: "n") else { return XCTFail("NUL accepted") }
        guard case .failure = GuestConfigParser.parse(bytes: Array(repeating: 0x61, count: GuestConfigParser.maximumFileSize + 1), file: "f", vmid: 1, kind: .qemu, node: "n") else {
            return XCTFail("huge file accepted")
        }
    }

    func testRandomBytesNeverTrap() {
        var rng = SeededGenerator(seed: 0x5195_9a40)
        print("random config bytes, seed 0x51959a40")
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0..<400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = GuestConfigParser.parse(bytes: bytes, file: "r.conf", vmid: 1, kind: .qemu, node: "n")
            _ = ClusterFiles.pools(bytes, file: "u")
            _ = ClusterFiles.members(bytes, file: "m")
        }
    }
}


final class InventoryLoaderTests: XCTestCase {
    static let members = #"{"nodename": "pve1", "version": 5, "cluster": {"name": "c", "version": 2, "nodes": 2, "quorate": 1}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}, "pve2": {"id": 2, "online": 0, "ip": "192.0.2.12"}}}"#
    static let vmlist = #"{"version": 9, "ids": {"101": {"node": "pve1", "type": "qemu", "version": 7}, "200": {"node": "pve2", "type": "lxc", "version": 3}}}"#
    static let userCfg = "user:root@pam:1:0:::root@example.com:::\npool:carriers:SIP carriers:101,200::\npool:empty::::\nrole:X:VM.Audit:\n"

    func files(_ extra: [String: String] = [:]) -> [String: [UInt8]] {
        var f: [String: String] = [
            ".members": Self.members, ".vmlist": Self.vmlist, "user.cfg": Self.userCfg,
            "nodes/pve1/qemu-server/101.conf": GuestConfigParserTests.qemu,
            "nodes/pve2/lxc/200.conf": "hostname: ct\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,type=veth\ntags: sip-proxy\n",
        ]
        for (k, v) in extra { f[k] = v }
        return f.mapValues { Array($0.utf8) }
    }

    func testTheWholeTree() {
        let r = InventoryLoader.load(files: files(), root: "/etc/pve")
        XCTAssertEqual(r.diagnostics, [])
        let inv = r.inventory
        XCTAssertEqual(inv.localNode, "pve1")
        XCTAssertEqual(inv.node(forAddress: "192.0.2.12"), "pve2")
        XCTAssertEqual(inv.nodes["pve2"]?.online, false)
        XCTAssertEqual(inv.pools, ["carriers": [101, 200], "empty": []])
        XCTAssertEqual(inv.groups.tags["sip-proxy"], [101, 200])
        XCTAssertEqual(inv.guests[200]?.node, "pve2")
        XCTAssertEqual(inv.macs(forPorts: ["tap101i0", "fwln101o0", "veth200i0", "tap200i0", "tap101i2", "bond0"]),
                       ["tap101i0": [MACAddress("bc:24:11:5e:2a:01")!], "fwln101o0": [MACAddress("bc:24:11:5e:2a:01")!], "veth200i0": [MACAddress("bc:24:11:00:02:00")!]])
        XCTAssertEqual(inv.label(101), "101 (sip-proxy-1)")
        XCTAssertEqual(inv.label(999), "999")
    }

    func testABrokenConfigKeepsTheLastGoodViewOfThatGuest() {
        let good = InventoryLoader.load(files: files(), root: "/etc/pve").inventory
        let broken = InventoryLoader.load(files: files(["nodes/pve1/qemu-server/101.conf": "name: x\nnet0: virtio=nonsense,bridge=vmbr0\n"]),
                                          root: "/etc/pve", previous: good)
        XCTAssertEqual(broken.diagnostics.map(\.description), ["/etc/pve/nodes/pve1/qemu-server/101.conf:2:7: error: net0: invalid MAC address 'nonsense'"])
        XCTAssertEqual(broken.inventory.guests[101], good.guests[101])
        XCTAssertEqual(broken.inventory.guests[200], good.guests[200])
        let brokenJSON = InventoryLoader.load(files: files([".members": "{not json"]), root: "/etc/pve", previous: good)
        XCTAssertEqual(brokenJSON.inventory.nodes, good.nodes)
        XCTAssertFalse(brokenJSON.diagnostics.isEmpty)
    }

    func testAConfigOnTwoNodesMidMigrationFollowsTheVMList() {
        var f = files()
        f["nodes/pve2/qemu-server/101.conf"] = Array("name: moved\nnet0: virtio=BC:24:11:5E:2A:01,bridge=vmbr0\n".utf8)
        XCTAssertEqual(InventoryLoader.load(files: f, root: "/etc/pve").inventory.guests[101]?.node, "pve1", ".vmlist says pve1")
    }

    func testTagAndPoolSelectorsResolveToVMs() {
        let inv = InventoryLoader.load(files: files(), root: "/etc/pve").inventory
        let s = MirrorSession(name: "s", file: "s.yaml", monitors: [.tag("monitor", nic: 1)], watch: .ports([.tag("sip-proxy", nic: nil), .pool("carriers", nic: 0), .vm(101, nic: nil)]))
        let r = s.resolved(with: inv.groups)
        XCTAssertEqual(r.watch, .ports([.vm(101, nic: nil), .vm(200, nil), .vm(101, nic: 0), .vm(200, nic: 0)].map { $0 }))
        XCTAssertEqual(r.monitors, [], "no guest has the monitor tag yet")
    }
}

private extension PortSelector {
    static func vm(_ id: UInt32, _ nic: UInt8?) -> PortSelector { .vm(id, nic: nic) }
}

final class InventoryWarningsTests: XCTestCase {
    func inventory() -> Inventory {
        let files: [String: String] = [
            ".members": InventoryLoaderTests.members, "user.cfg": "pool:carriers::101::\npool:empty::::\n",
            // Watched: net0 on vmbr0; net1 on a Linux bridge; net2 link_down.
            "nodes/pve1/qemu-server/101.conf": "name: sip-1\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\nnet1: virtio=BC:24:11:00:01:11,bridge=vmbr1\nnet2: virtio=BC:24:11:00:01:21,bridge=vmbr0,link_down=1\n",
            // Monitor with the firewall on and no tag.
            "nodes/pve1/qemu-server/900.conf": "name: mon\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,firewall=1\n",
            // Not a monitor, on the monitor VLAN.
            "nodes/pve1/qemu-server/104.conf": "name: other\nnet0: virtio=BC:24:11:00:01:04,bridge=vmbr0,tag=4094\n",
            // Watched on pve2, which has no monitor.
            "nodes/pve2/qemu-server/103.conf": "name: sip-3\nnet0: virtio=BC:24:11:00:01:03,bridge=vmbr0\n",
        ]
        return InventoryLoader.load(files: files.mapValues { Array($0.utf8) }, root: "/pve").inventory
    }

    func testEveryWarningAnOperatorNeeds() throws {
        let text = "monitor:\n  - vm: 900\n    nic: 1\nwatch:\n  - vm: 101\n  - vm: 103\n  - vm: 555\n  - tag: nobody\n  - pool: ghosts\n  - pool: empty\n"
        let session = try PolicyParser.parse(text: text, file: "p.yaml", defaultName: "p").get()
        let warnings = InventoryWarnings.compute(policy: PolicySet([session]), inventory: inventory(), monitorVLAN: 4094,
                                                 ovsBridges: .clusterWide(["vmbr0"]), root: "/pve").map(\.description)
        let expected = [
            "/pve/nodes/pve1/qemu-server/101.conf:3:1: warning: VM 101 (sip-1) net1 is on bridge 'vmbr1', which is not an Open vSwitch bridge connected to sipspan on node pve1 (a Linux bridge or an SDN vnet?): its SIP cannot be copied",
            "/pve/nodes/pve1/qemu-server/101.conf:4:1: warning: VM 101 (sip-1) net2 has link_down=1: it carries no traffic, nothing of it can be copied",
            "/pve/nodes/pve1/qemu-server/104.conf:2:1: warning: VM 104 (other) net0 is on the monitor VLAN 4094 but is no monitor: NORMAL floods its frames into the monitor NICs",
            "/pve/nodes/pve1/qemu-server/900.conf:2:1: warning: monitor NIC VM 900 (mon) net1 has firewall=1: copies cross the guest firewall's bridge and conntrack, which can drop them; set firewall=0",
            "/pve/nodes/pve1/qemu-server/900.conf:2:1: warning: monitor NIC VM 900 (mon) net1 is not on the monitor VLAN 4094 (untagged): NORMAL floods other traffic into it; set tag=4094",
            "p.yaml:2:5: warning: node pve2 has NICs watched by session 'p' (VM 103 (sip-3)) but no monitor NIC of that session: nothing is copied there",
            "p.yaml:7:5: warning: VM 555 is not in the cluster (no config under /pve/nodes/*/)",
            "p.yaml:8:5: warning: no guest has the tag 'nobody' (yet)",
            "p.yaml:9:5: warning: pool 'ghosts' does not exist (yet)",
            "p.yaml:10:5: warning: pool 'empty' has no guests",
        ]
        XCTAssertEqual(warnings, expected)
    }

    func testAWellSetUpClusterHasNoWarnings() throws {
        let files: [String: String] = [
            "nodes/pve1/qemu-server/101.conf": "net0: virtio=BC:24:11:00:01:01,bridge=vmbr0\n",
            "nodes/pve1/qemu-server/900.conf": "net1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0\n",
        ]
        let inv = InventoryLoader.load(files: files.mapValues { Array($0.utf8) }, root: "/pve").inventory
        let session = try PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n", file: "p.yaml", defaultName: "p").get()
        XCTAssertEqual(InventoryWarnings.compute(policy: PolicySet([session]), inventory: inv, monitorVLAN: 4094, ovsBridges: .clusterWide(["vmbr0"])), [])
    }

    func testOVSBridgesFromInterfaces() {
        let text = """
            auto lo
            iface lo inet loopback

            auto eno1
            iface eno1 inet manual
            \tovs_type OVSPort
            \tovs_bridge vmbr0

            auto vmbr0
            iface vmbr0 inet static
            \taddress 192.0.2.11/24
            \tovs_type OVSBridge
            \tovs_ports eno1
            \tovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock

            auto vmbr1
            iface vmbr1 inet manual
            \tbridge-ports none
            """
        XCTAssertEqual(NetworkInterfaces.ovsBridges(text), ["vmbr0"])
    }
}
