import Foundation
import TestSupport
import XCTest

/// `ssl:` controllers: certificates from OVS's own ovs-pki, a real bridge connecting over TLS.
final class TLSTests: XCTestCase {
    var lab: Lab!

    override func setUpWithError() throws { lab = try Lab() }
    override func tearDown() { lab?.stop() }

    func testBridgeConnectsOverTLSAndIsProgrammed() throws {
        let pki = lab.ovs.dir + "/pki", d = lab.ovs.dir
        try TestSupport.run(["ovs-pki", "--dir=\(pki)", "--log=\(d)/pki.log", "init"])
        try TestSupport.run(["sh", "-c", "cd \(d) && ovs-pki --dir=\(pki) --log=\(d)/pki.log req+sign ctl controller && ovs-pki --dir=\(pki) --log=\(d)/pki.log req+sign sc switch"])
        try lab.ovs.vsctl(["set-ssl", "\(d)/sc-privkey.pem", "\(d)/sc-cert.pem", "\(pki)/controllerca/cacert.pem"])
        try lab.ovs.addBridge("vmbr0", dpid: 0x81, ports: [("tap101i0", 1, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)], pcapPorts: ["tap900i1"])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        let s = try SipspanProcess(policy: [lab.policyDir], extraArgs: [
            "--listen", "ssl:127.0.0.1:0", "--tls-key", "\(d)/ctl-privkey.pem", "--tls-cert", "\(d)/ctl-cert.pem", "--tls-ca", "\(pki)/switchca/cacert.pem",
        ], logPath: "\(d)/sipspan-tls.log", listenPort: 0)
        lab.sipspan = s
        // The first listener is plain TCP on port 0, the second ssl:; find the ssl: one.
        func sslPort() -> UInt16? {
            s.lines(containing: "listening").compactMap { line -> UInt16? in
                guard let r = line.range(of: "address=ssl:127.0.0.1:") else { return nil }
                return UInt16(line[r.upperBound...].prefix { $0.isNumber })
            }.first
        }
        try waitUntil("the ssl: listener") { sslPort() != nil }
        let sslPort = try XCTUnwrap(sslPort())
        try lab.ovs.vsctl(["set-controller", "vmbr0", "ssl:127.0.0.1:\(sslPort)"])
        try lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"])
        try lab.ovs.receive("tap101i0", Frames.udp4(src: Hosts.vm101, dst: Hosts.far, from: Hosts.ip101, to: Hosts.ipFar, sport: 5060, dport: 5060, inPort: 1))
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 1), ["udp \(Hosts.ip101):5060>\(Hosts.ipFar):5060"])
        XCTAssertFalse(s.lines(containing: "bridge connected").isEmpty)

        // A peer without a certificate signed by the switch CA is refused.
        let p = try RawPeer(port: sslPort)
        p.send(Array("\u{16}\u{03}\u{01}\u{00}\u{05}hello".utf8))
        XCTAssertTrue(p.readUntilClosed(timeout: 3).closed)
    }
}
