@testable import SIPMedia
import XCTest

/// The call table as a state machine with a fake clock: offer/answer in INVITE/18x/2xx/ACK/PRACK,
/// forks, re-INVITE and UPDATE, CANCEL, rejections, retransmissions, timeouts, bounds.
final class CallTableTests: XCTestCase {
    let offer = sdp("192.0.2.10", 49170)
    let answer = sdp("192.0.2.20", 3456)
    let s: UInt64 = 1_000_000_000

    /// INVITE (offer) / 180 / 200 (answer) / ACK from alice (tag a1) to bob (tag b1), call "c1" unless told.
    private func establish(_ h: Harness, call: String = "c1") throws {
        XCTAssertEqual(try h.send(request("INVITE", 1, call: call, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(180, 1, call: call)), [])
        XCTAssertEqual(try h.send(response(200, 1, call: call, sdp: answer)), [.media(callID: call, negotiated: [try negotiation(offer, answer)])])
        XCTAssertEqual(try h.send(request("ACK", 1, call: call, to: "b1")), [])
    }

    func testPlainCall() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(h.table.count, 1)
        XCTAssertEqual(try h.send(response(100, 1, to: nil)), [])
        XCTAssertEqual(try h.send(response(180, 1)), [])
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [.media(callID: "c1", negotiated: [try negotiation(offer, answer)])])
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1")), [])
        XCTAssertEqual(try h.send(request("BYE", 1, from: "b1", to: "a1")), [.ended(callID: "c1", reason: .bye)], "BYE from the callee")
        XCTAssertEqual(try h.send(response(200, 1, "BYE", from: "b1", to: "a1")), [])
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(h.table.sdpFailures, 0)
    }

    func testEarlyMedia() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(183, 1, sdp: answer)), [.media(callID: "c1", negotiated: [try negotiation(offer, answer)])], "early media counts")
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [], "the same answer again")
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1")), [])
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [.ended(callID: "c1", reason: .bye)], "BYE from the caller")
    }

    func testDelayedOfferIsAnsweredInTheACK() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1)), [])
        XCTAssertEqual(try h.send(response(180, 1)), [])
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [], "an offer alone copies nothing")
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [], "its retransmission neither")
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1", sdp: offer)), [.media(callID: "c1", negotiated: [try negotiation(answer, offer)])])
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [])
        XCTAssertEqual(h.table.count, 1)
    }

    func testReliableProvisionalOfferIsAnsweredInThePRACK() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1)), [])
        XCTAssertEqual(try h.send(response(183, 1, sdp: answer)), [])
        XCTAssertEqual(try h.send(request("PRACK", 2, to: "b1", sdp: offer)), [.media(callID: "c1", negotiated: [try negotiation(answer, offer)])])
        XCTAssertEqual(try h.send(response(200, 2, "PRACK")), [])
        XCTAssertEqual(try h.send(response(200, 1)), [])
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1")), [])
    }

    func testForks() throws {
        let h = Harness()
        let second = sdp("192.0.2.30", 7000)
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(180, 1, to: "b1", sdp: answer)), [.media(callID: "c1", negotiated: [try negotiation(offer, answer)])])
        XCTAssertEqual(try h.send(response(180, 1, to: "b2", sdp: second)),
                       [.media(callID: "c1", negotiated: [try negotiation(offer, answer), try negotiation(offer, second)])])
        XCTAssertEqual(try h.send(response(200, 1, to: "b2", sdp: second)), [.media(callID: "c1", negotiated: [try negotiation(offer, second)])],
                       "the 2xx confirms its fork; the others are dropped")
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b2")), [])
        XCTAssertEqual(try h.send(response(200, 1, to: "b1", sdp: answer)), [], "a second fork's late 2xx changes nothing")
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [], "the caller's BYE of that fork does not end the call")
        XCTAssertEqual(h.table.count, 1)
        XCTAssertEqual(try h.send(request("BYE", 3, to: "b2")), [.ended(callID: "c1", reason: .bye)])
    }

    func testForksAreBounded() throws {
        let h = Harness(.init(maxForks: 2))
        let answers = (0..<3).map { sdp("192.0.2.\(30 + $0)", 7000) }
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(183, 1, to: "b0", sdp: answers[0])).count, 1)
        XCTAssertEqual(try h.send(response(183, 1, to: "b1", sdp: answers[1])).count, 1)
        XCTAssertEqual(try h.send(response(183, 1, to: "b2", sdp: answers[2])), [], "a third fork is past maxForks")
        XCTAssertEqual(try h.send(response(200, 1, to: "b2", sdp: answers[2])), [.media(callID: "c1", negotiated: [try negotiation(offer, answers[2])])],
                       "a 2xx is never refused")
    }

    func testReInviteChangesTheMedia() throws {
        let h = Harness()
        try establish(h)
        let moved = sdp("192.0.2.10", 49180)
        XCTAssertEqual(try h.send(request("INVITE", 2, to: "b1", sdp: moved)), [])
        XCTAssertEqual(try h.send(response(100, 2)), [])
        XCTAssertEqual(try h.send(response(200, 2, sdp: answer)), [.media(callID: "c1", negotiated: [try negotiation(moved, answer)])])
        XCTAssertEqual(try h.send(request("ACK", 2, to: "b1")), [])
        // From the callee, in its own CSeq space (which may repeat the caller's numbers).
        let bobMoved = sdp("192.0.2.20", 4000)
        XCTAssertEqual(try h.send(request("INVITE", 1, from: "b1", to: "a1", sdp: bobMoved)), [])
        XCTAssertEqual(try h.send(response(200, 1, from: "b1", to: "a1", sdp: moved)), [.media(callID: "c1", negotiated: [try negotiation(bobMoved, moved)])])
        XCTAssertEqual(try h.send(request("ACK", 1, from: "b1", to: "a1")), [])
        XCTAssertEqual(h.table.count, 1)
    }

    func testRejectedReInviteKeepsTheMedia() throws {
        let h = Harness()
        try establish(h)
        XCTAssertEqual(try h.send(request("INVITE", 2, to: "b1", sdp: sdp("192.0.2.10", 49180))), [])
        XCTAssertEqual(try h.send(response(488, 2)), [], "488: the old media stays, the call goes on")
        XCTAssertEqual(try h.send(request("ACK", 2, to: "b1")), [])
        XCTAssertEqual(h.table.count, 1)
        // A re-INVITE without SDP: the offer in its 2xx, the answer in the ACK.
        let bobOffer = sdp("192.0.2.20", 5000)
        let aliceAnswer = sdp("192.0.2.10", 6000)
        XCTAssertEqual(try h.send(request("INVITE", 3, to: "b1")), [])
        XCTAssertEqual(try h.send(response(200, 3, sdp: bobOffer)), [])
        XCTAssertEqual(try h.send(request("ACK", 3, to: "b1", sdp: aliceAnswer)), [.media(callID: "c1", negotiated: [try negotiation(bobOffer, aliceAnswer)])])
        XCTAssertEqual(try h.send(request("BYE", 4, to: "b1")), [.ended(callID: "c1", reason: .bye)])
    }

    func testUpdate() throws {
        let h = Harness()
        try establish(h)
        let moved = sdp("192.0.2.10", 49190)
        let movedAnswer = sdp("192.0.2.20", 3470)
        XCTAssertEqual(try h.send(request("UPDATE", 2, to: "b1", sdp: moved)), [])
        XCTAssertEqual(try h.send(response(200, 2, "UPDATE", sdp: movedAnswer)), [.media(callID: "c1", negotiated: [try negotiation(moved, movedAnswer)])])
        XCTAssertEqual(try h.send(request("UPDATE", 3, to: "b1")), [], "a session refresh without SDP")
        XCTAssertEqual(try h.send(response(200, 3, "UPDATE")), [])
        XCTAssertEqual(try h.send(request("UPDATE", 4, to: "b1", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(491, 4, "UPDATE")), [], "a failed UPDATE keeps the media")
        XCTAssertEqual(h.table.count, 1)
    }

    func testCancel() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(180, 1)), [])
        XCTAssertEqual(try h.send(request("CANCEL", 1)), [.ended(callID: "c1", reason: .cancel)])
        XCTAssertEqual(try h.send(response(200, 1, "CANCEL", to: nil)), [])
        XCTAssertEqual(try h.send(response(487, 1)), [], "the 487 does not end it twice")
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1")), [])
        XCTAssertEqual(h.table.count, 0)
        // A CANCEL after the 2xx does nothing (the caller sends a BYE).
        try establish(h, call: "c2")
        XCTAssertEqual(try h.send(request("CANCEL", 1, call: "c2")), [])
        XCTAssertEqual(h.table.count, 1)
    }

    func testRejection() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(response(100, 1, to: nil)), [])
        XCTAssertEqual(try h.send(response(486, 1)), [.ended(callID: "c1", reason: .rejected(status: 486))])
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1")), [])
        XCTAssertEqual(h.table.count, 0)
        // After early media.
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c2", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(183, 1, call: "c2", sdp: answer)).count, 1)
        XCTAssertEqual(try h.send(response(480, 1, call: "c2")), [.ended(callID: "c2", reason: .rejected(status: 480))])
        // A 407 challenge and the retried INVITE (same Call-ID, higher CSeq): a call again.
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c3", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(407, 1, call: "c3", to: "p1")), [.ended(callID: "c3", reason: .rejected(status: 407))])
        XCTAssertEqual(try h.send(request("ACK", 1, call: "c3", to: "p1")), [])
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c3", sdp: offer)), [], "a retransmission of the rejected INVITE")
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(try h.send(request("INVITE", 2, call: "c3", sdp: offer)), [])
        XCTAssertEqual(h.table.count, 1)
        XCTAssertEqual(try h.send(response(407, 1, call: "c3", to: "p1")), [], "the old 407 again")
        XCTAssertEqual(try h.send(response(200, 2, call: "c3", sdp: answer)), [.media(callID: "c3", negotiated: [try negotiation(offer, answer)])])
        XCTAssertEqual(try h.send(response(603, 2, call: "c3")), [], "no rejection after a 2xx")
        XCTAssertEqual(h.table.count, 1)
    }

    func testRetransmissionsChangeNothing() throws {
        let h = Harness()
        var changes: [CallChange] = []
        for _ in 0..<2 { changes += try h.send(request("INVITE", 1, sdp: offer)) }
        for _ in 0..<2 { changes += try h.send(response(183, 1, sdp: answer)) }
        for _ in 0..<3 { changes += try h.send(response(200, 1, sdp: answer)) }
        for _ in 0..<2 { changes += try h.send(request("ACK", 1, to: "b1")) }
        for _ in 0..<2 { changes += try h.send(request("INVITE", 1, sdp: offer)) }
        XCTAssertEqual(changes, [.media(callID: "c1", negotiated: [try negotiation(offer, answer)])])
        let moved = sdp("192.0.2.10", 49180)
        changes = []
        for _ in 0..<2 { changes += try h.send(request("INVITE", 2, to: "b1", sdp: moved)) }
        for _ in 0..<2 { changes += try h.send(response(200, 2, sdp: answer)) }
        for _ in 0..<2 { changes += try h.send(request("INVITE", 2, to: "b1", sdp: moved)) }
        XCTAssertEqual(changes, [.media(callID: "c1", negotiated: [try negotiation(moved, answer)])])
        // A re-offer of the same SDP (a session refresh) completes but changes nothing.
        XCTAssertEqual(try h.send(request("INVITE", 3, to: "b1", sdp: moved)), [])
        XCTAssertEqual(try h.send(response(200, 3, sdp: answer)), [])
    }

    func testPendingTimeout() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer), at: 0), [])
        XCTAssertEqual(h.expire(at: 31 * s), [])
        XCTAssertEqual(h.expire(at: 32 * s), [.ended(callID: "c1", reason: .timeout)], "nobody answered within 64·T1")
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer), at: 33 * s), [], "a late retransmission does not restart it")
        XCTAssertEqual(h.table.count, 0)
        // A ringing call is answered: it waits for the idle timeout, not the pending one.
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c2", sdp: offer), at: 100 * s), [])
        XCTAssertEqual(try h.send(response(180, 1, call: "c2"), at: 101 * s), [])
        XCTAssertEqual(h.expire(at: 200 * s), [])
        XCTAssertEqual(try h.send(response(200, 1, call: "c2", sdp: answer), at: 220 * s).count, 1, "answered after two minutes of ringing")
        XCTAssertEqual(h.table.count, 1)
    }

    func testAnsweredIdleTimeout() throws {
        let h = Harness()
        let hour = 3600 * s
        h.now = 0
        try establish(h)
        XCTAssertEqual(h.expire(at: 3 * hour), [])
        XCTAssertEqual(try h.send(request("OPTIONS", 2, to: "b1"), at: 3 * hour), [], "any SIP of the call keeps it")
        XCTAssertEqual(h.expire(at: 6 * hour), [])
        XCTAssertEqual(h.expire(at: 9 * hour - 1), [])
        XCTAssertEqual(h.expire(at: 9 * hour), [.ended(callID: "c1", reason: .timeout)])
        XCTAssertEqual(h.expire(at: 10 * hour), [])
        XCTAssertEqual(h.table.count, 0)
    }

    func testTableFull() throws {
        let h = Harness(.init(maxCalls: 2))
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c1", sdp: offer)), [])
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c2", sdp: offer)), [])
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c3", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(200, 1, call: "c3", sdp: answer)), [])
        XCTAssertEqual(h.table.refused, 1)
        XCTAssertEqual(h.table.count, 2)
        XCTAssertEqual(try h.send(response(200, 1, call: "c1", sdp: answer)), [.media(callID: "c1", negotiated: [try negotiation(offer, answer)])],
                       "calls already tracked go on")
        XCTAssertEqual(try h.send(request("BYE", 2, call: "c1", to: "b1")), [.ended(callID: "c1", reason: .bye)])
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c3", sdp: offer)), [], "room again")
        XCTAssertEqual(h.table.refused, 1)
        XCTAssertEqual(try h.send(response(200, 1, call: "c3", sdp: answer)).count, 1)
    }

    func testByeResponseDoesNotResurrect() throws {
        let h = Harness()
        h.now = 0
        try establish(h)
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [.ended(callID: "c1", reason: .bye)])
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [], "ended once")
        XCTAssertEqual(try h.send(response(200, 2, "BYE")), [])
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [])
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: offer)), [])
        XCTAssertEqual(try h.send(request("INVITE", 3, to: "b1", sdp: offer)), [], "nor is it adopted while it is remembered")
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(h.expire(at: 40 * s), [])
        XCTAssertEqual(try h.send(response(200, 2, "BYE")), [])
        XCTAssertEqual(h.table.count, 0)
    }

    func testBadSDPIsCountedAndIgnored() throws {
        let h = Harness()
        let broken = "v=0\r\nthis is not SDP\r\n"
        XCTAssertEqual(try h.send(request("INVITE", 1, sdp: broken)), [])
        XCTAssertEqual(h.table.sdpFailures, 1)
        XCTAssertEqual(try h.send(response(200, 1, sdp: answer)), [], "an answer to an unreadable offer copies nothing")
        XCTAssertEqual(try h.send(request("ACK", 1, to: "b1", sdp: offer)), [], "the 2xx's SDP was an answer, not an offer")
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [.ended(callID: "c1", reason: .bye)])
        try establish(h, call: "c2")
        XCTAssertEqual(try h.send(request("INVITE", 2, call: "c2", to: "b1", sdp: broken)), [])
        XCTAssertEqual(h.table.sdpFailures, 2)
        XCTAssertEqual(try h.send(response(200, 2, call: "c2", sdp: sdp("192.0.2.20", 9999))), [], "the call stays as it was")
        XCTAssertEqual(try h.send(request("INVITE", 3, call: "c2", to: "b1", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(200, 3, call: "c2", sdp: String(repeating: "\u{1}", count: 40))), [])
        XCTAssertEqual(h.table.sdpFailures, 3)
        XCTAssertEqual(h.table.count, 1)
    }

    func testAdoptsADialogFromAReInvite() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(response(200, 1, call: "lost", sdp: answer)), [], "a response alone starts nothing")
        XCTAssertEqual(try h.send(request("ACK", 1, call: "lost", to: "b1", sdp: offer)), [])
        XCTAssertEqual(try h.send(request("BYE", 1, call: "lost", to: "b1")), [])
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(try h.send(request("INVITE", 5, call: "c9", from: "b1", to: "a1", sdp: answer)), [])
        XCTAssertEqual(try h.send(response(200, 5, call: "c9", from: "b1", to: "a1", sdp: offer)),
                       [.media(callID: "c9", negotiated: [try negotiation(answer, offer)])])
        XCTAssertEqual(try h.send(request("BYE", 9, call: "c9", to: "b1")), [.ended(callID: "c9", reason: .bye)], "from the other side")
        XCTAssertEqual(try h.send(request("UPDATE", 5, call: "c10", to: "b1", sdp: offer)), [])
        XCTAssertEqual(try h.send(response(481, 5, "UPDATE", call: "c10")), [.ended(callID: "c10", reason: .rejected(status: 481))],
                       "481: there is no such dialog")
        XCTAssertEqual(h.table.count, 0)
    }

    func testLongIdentifiersAreIgnored() throws {
        let h = Harness()
        XCTAssertEqual(try h.send(request("INVITE", 1, call: String(repeating: "x", count: 257), sdp: offer)), [])
        XCTAssertEqual(try h.send(request("INVITE", 1, call: "c1", from: String(repeating: "t", count: 257), sdp: offer)), [])
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(try h.send(request("INVITE", 1, call: String(repeating: "x", count: 256), sdp: offer)), [])
        XCTAssertEqual(h.table.count, 1)
    }

    func testForget() throws {
        let h = Harness()
        try establish(h)
        h.table.forget(callID: "c1")
        XCTAssertEqual(h.table.count, 0)
        XCTAssertEqual(try h.send(request("BYE", 2, to: "b1")), [], "nothing to end")
        XCTAssertEqual(h.expire(at: 7 * 3600 * s), [])
    }

    /// Out-of-order delivery of a call's messages never traps and never pairs SDP wrongly.
    func testShuffledMessages() throws {
        var seed: UInt64 = 0x0c41_1ab1
        print("CallTableTests random seed: \(seed)")
        let expected = try negotiation(offer, answer)
        let messages = [
            try request("INVITE", 1, sdp: offer), try response(100, 1, to: nil), try response(180, 1), try response(183, 1, sdp: answer),
            try response(200, 1, sdp: answer), try request("ACK", 1, to: "b1"), try request("BYE", 2, to: "b1"),
            try response(200, 2, "BYE"), try request("CANCEL", 1), try response(487, 1),
        ]
        for round in 0..<500 {
            var table = CallTable()
            var order = messages
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(next(&seed) % UInt64(i + 1))) }
            var ended = 0
            for (i, m) in order.enumerated() {
                for change in table.handle(m, now: UInt64(round * 100 + i) * s) {
                    switch change {
                    case let .media(_, negotiated): XCTAssertTrue(negotiated.allSatisfy { $0 == expected }, "round \(round)")
                    case .ended: ended += 1
                    }
                }
            }
            XCTAssertLessThanOrEqual(ended, 1)
            XCTAssertLessThanOrEqual(table.count, 1)
        }
    }

    /// Many calls, ended and timed out: the table and its schedule stay bounded.
    func testManyCallsStayBounded() throws {
        var table = CallTable(limits: .init(maxCalls: 100))
        for i in 0..<5000 {
            let id = "call-\(i)"
            let now = UInt64(i) * 10_000_000
            _ = table.handle(try request("INVITE", 1, call: id, sdp: offer), now: now)
            _ = table.handle(try response(200, 1, call: id, sdp: answer), now: now)
            if i % 3 == 0 {
                _ = table.handle(try request("BYE", 2, call: id, to: "b1"), now: now)
            }
            if i % 100 == 0 { _ = table.expire(now: now) }
            XCTAssertLessThanOrEqual(table.count, 100)
            XCTAssertLessThanOrEqual(table.scheduledCount, 2 * table.count + 65)
        }
        XCTAssertGreaterThan(table.refused, 0)
        let left = table.count
        XCTAssertEqual(table.expire(now: .max).count, left, "every call times out in the end")
        XCTAssertEqual(table.count, 0)
        XCTAssertEqual(table.scheduledCount, 0)
    }

    private func next(_ s: inout UInt64) -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 17 }
}

/// A call table with a clock: each message moves it 1 ms unless a time is given.
private final class Harness {
    var table: CallTable
    var now: UInt64 = 0

    init(_ limits: CallTable.Limits = .init()) { table = CallTable(limits: limits) }

    func send(_ m: SIPMessage, at time: UInt64? = nil) -> [CallChange] {
        now = time ?? now + 1_000_000
        return table.handle(m, now: now)
    }

    func expire(at time: UInt64) -> [CallChange] {
        now = time
        return table.expire(now: time)
    }
}

/// An SDP offer or answer of one audio stream at `address`:`port`.
private func sdp(_ address: String, _ port: Int) -> String {
    let family = address.contains(":") ? "IP6" : "IP4"
    return "v=0\r\no=- 1 1 IN \(family) \(address)\r\ns=-\r\nc=IN \(family) \(address)\r\nt=0 0\r\nm=audio \(port) RTP/AVP 0 8\r\na=sendrecv\r\n"
}

private func negotiation(_ offer: String, _ answer: String) throws -> Negotiation {
    Negotiation(offer: try SessionDescription.parse(Array(offer.utf8)).get(), answer: try SessionDescription.parse(Array(answer.utf8)).get())
}

/// A request `METHOD sip:… SIP/2.0`, CSeq `<cseq> METHOD`, From-tag `from`, To-tag `to`.
private func request(_ method: String, _ cseq: UInt32, call: String = "c1", from: String? = "a1", to: String? = nil, sdp: String? = nil) throws -> SIPMessage {
    try sipMessage("\(method) sip:peer@192.0.2.20 SIP/2.0", call: call, cseq: "\(cseq) \(method)", from: from, to: to, sdp: sdp)
}

/// A response `SIP/2.0 <status>` to CSeq `<cseq> <method>`; its From and To are the request's.
private func response(_ status: Int, _ cseq: UInt32, _ method: String = "INVITE", call: String = "c1", from: String? = "a1", to: String? = "b1",
              sdp: String? = nil) throws -> SIPMessage {
    try sipMessage("SIP/2.0 \(status) Reason", call: call, cseq: "\(cseq) \(method)", from: from, to: to, sdp: sdp)
}

/// A SIP message as text with CRLF line ends and its Content-Length.
private func sipMessage(_ start: String, call: String, cseq: String, from: String?, to: String?, sdp: String?) throws -> SIPMessage {
    var lines = [
        start, "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9", "Max-Forwards: 70",
        "From: <sip:alice@192.0.2.10>" + (from.map { ";tag=\($0)" } ?? ""),
        "To: <sip:bob@192.0.2.20>" + (to.map { ";tag=\($0)" } ?? ""),
        "Call-ID: \(call)", "CSeq: \(cseq)",
    ]
    if let sdp {
        lines += ["Content-Type: application/sdp", "Content-Length: \(sdp.utf8.count)"]
    } else {
        lines.append("Content-Length: 0")
    }
    return try SIPMessage.parse(Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + (sdp ?? "")).utf8)).get()
}
