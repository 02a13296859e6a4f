import Foundation
import TestSupport
import XCTest

/// `ssl:` controllers: certificates from OVS's own ovs-pki, a real bridge connecting over TLS.
final class TLSTests: XCTestCase {
    var lab: Lab!
    var sipspan: SipspanProcess!
    var sslPort: UInt16 = 0
    var switchCN = ""
    var pki: String { lab.ovs.dir + "/pki" }
    var d: String { lab.ovs.dir }

    override func tearDown() { lab?.stop() }

    /// ovs-pki certificates for sipspan ("ctl") and the switch ("sc"), vmbr0 connected over ssl:.
    override func setUpWithError() throws {
        lab = try Lab()
        try TestSupport.run(["ovs-pki", "--dir=\(pki)", "--log=\(d)/pki.log", "init"])
        try TestSupport.run(["sh", "-c", "cd \(d) && ovs-pki --dir=\(pki) --log=\(d)/pki.log req+sign ctl controller && ovs-pki --dir=\(pki) --log=\(d)/pki.log req+sign sc switch"])
        try lab.ovs.vsctl(["set-ssl", "\(d)/sc-privkey.pem", "\(d)/sc-cert.pem", "\(pki)/controllerca/cacert.pem"])
        try lab.ovs.addBridge("vmbr0", dpid: 0x81, ports: [("tap101i0", 1, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)], pcapPorts: ["tap900i1"])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        // Datapath 0x81 is bound to the switch certificate's common name; 0x82 to a name no certificate has.
        let subject = try TestSupport.run(["openssl", "x509", "-in", "\(d)/sc-cert.pem", "-noout", "-subject", "-nameopt", "multiline"]).out
        switchCN = try XCTUnwrap(subject.split(separator: "\n").first { $0.contains("commonName") }?.split(separator: "=", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespaces), subject)
        try "# dpid common-name\n0000000000000081 \(switchCN)\n0x82 another switch\n".write(toFile: "\(d)/bindings", atomically: true, encoding: .utf8)
        let s = try SipspanProcess(policy: [lab.policyDir], extraArgs: [
            "--listen", "ssl:127.0.0.1:0", "--tls-key", "\(d)/ctl-privkey.pem", "--tls-cert", "\(d)/ctl-cert.pem", "--tls-ca", "\(pki)/switchca/cacert.pem",
            "--tls-datapath-bindings", "\(d)/bindings",
        ], logPath: "\(d)/sipspan-tls.log", listenPort: 0)
        lab.sipspan = s
        sipspan = s
        // The first listener is plain TCP on port 0, the second ssl:; the status endpoint names both.
        sslPort = try XCTUnwrap(s.sslPort)
        try lab.ovs.vsctl(["set-controller", "vmbr0", "ssl:127.0.0.1:\(sslPort)"])
        try lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"])
    }

    func testBridgeConnectsOverTLSAndIsProgrammed() throws {
        try lab.ovs.receive("tap101i0", Frames.udp4(src: Hosts.vm101, dst: Hosts.far, from: Hosts.ip101, to: Hosts.ipFar, sport: 5060, dport: 5060, inPort: 1))
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 1), ["udp \(Hosts.ip101):5060>\(Hosts.ipFar):5060"])
        XCTAssertNotNil(sipspan.bridge(0x81))

        // A peer without a certificate signed by the switch CA is refused.
        let p = try RawPeer(port: sslPort)
        p.send(Array("\u{16}\u{03}\u{01}\u{00}\u{05}hello".utf8))
        XCTAssertTrue(p.readUntilClosed(timeout: 3).closed)
    }

    /// Issue 11 item 2: a peer with a valid certificate that resets mid-conversation used to kill the
    /// daemon with SIGPIPE (OpenSSL's close_notify written to the dead socket).
    func testTLSPeersResettingMidConversationDoNotStopTheDaemon() throws {
        let servedBy = try XCTUnwrap(sipspan.bridge(0x81)?.peer)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/tls-reset-peer.py").standardized.path
        let r = try TestSupport.run(["python3", script, String(sslPort), "\(d)/sc-cert.pem", "\(d)/sc-privkey.pem", "\(pki)/controllerca/cacert.pem", "50"], check: false)
        XCTAssertTrue(r.out.contains("50 resets"), "the peer ran: \(r.out)\(r.err)")
        XCTAssertTrue(sipspan.process.isRunning, "sipspan survived 50 resets (exit: \(sipspan.process.isRunning ? 0 : sipspan.process.terminationStatus))")
        // The real bridge is still served: an edit reaches it.
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\ntraffic: [udp/5060, udp/5080]\n")
        try lab.waitForFlows("vmbr0", containing: ["tp_dst=5080"], timeout: 5)
        XCTAssertEqual(sipspan.bridge(0x81)?.peer, servedBy, "served by the same connection throughout")
    }

    /// A datapath id bound to a certificate is refused to a peer presenting another one, even a valid one.
    func testADatapathBoundToACertificateIsRefusedToOtherCertificates() throws {
        let servedBy = try XCTUnwrap(sipspan.bridge(0x81)?.peer)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/tls-reset-peer.py").standardized.path
        // Stage 2 (i % 3 == 2) answers FEATURES: the third connection claims datapath 0x82.
        _ = try TestSupport.run(["python3", script, String(sslPort), "\(d)/sc-cert.pem", "\(d)/sc-privkey.pem", "\(pki)/controllerca/cacert.pem", "3", "82"], check: false)
        try waitUntil(timeout: 5, "the refusal is logged") { !self.sipspan.lines(containing: "datapath bound to another certificate").isEmpty }
        let line = sipspan.lines(containing: "datapath bound to another certificate").first ?? ""
        XCTAssertTrue(line.contains("dpid=0000000000000082") && line.contains("bound_to=\"another switch\""), line)
        XCTAssertNil(sipspan.currentStatus?.bridges.first { $0.datapathID == "0000000000000082" }, "never served")
        XCTAssertGreaterThanOrEqual(sipspan.totals.claimsRefused, 1)
        // The real bridge, with the bound certificate, is served (setUp waited for its flows) and stays.
        XCTAssertEqual(sipspan.bridge(0x81)?.peer, servedBy, "served by the same connection throughout")
    }
}
