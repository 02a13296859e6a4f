import ControllerCore
import Dispatch
import OpenFlow
import SwitchProtocol

/// A standby's watch on the primary: the primary's status endpoint is asked every `interval`
/// seconds; when it has not answered for `takeoverAfter` seconds the standby becomes master of every
/// bridge, and when it answers again the standby hands back (becomes slave; the primary requests
/// master on its connections with a newer generation id).
public final class PrimaryWatch: @unchecked Sendable {
    private let address: String
    private let takeoverAfter: Double
    private let interval: Double
    private let controller: SipspanController
    private let queue = DispatchQueue(label: "sipspan.primary-watch")
    private var timer: DispatchSourceTimer?
    private var lastAnswer = monotonicNow()
    private var master = false

    public init(primary address: String, takeoverAfter: Double, interval: Double = 0.5, controller: SipspanController) {
        self.address = address; self.takeoverAfter = takeoverAfter; self.interval = interval; self.controller = controller
    }

    public func start() {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        t.setEventHandler { [weak self] in self?.check() }
        t.resume()
        timer = t
    }

    private func check() {
        // Blocking, bounded (StatusClient times out after 5 s): on this watch's own queue only.
        let answered = (try? StatusClient.request(address, path: "/status")) != nil
        let now = monotonicNow()
        if answered {
            lastAnswer = now
            if master {
                master = false
                controller.setRole(.slave, reason: "the primary at \(address) answers again")
            }
        } else if !master, seconds(from: lastAnswer, to: now) >= takeoverAfter {
            master = true
            controller.setRole(.master, reason: "the primary at \(address) has not answered for \(Int(takeoverAfter)) s")
        }
    }
}
