import Dispatch
import Logging
import OpenFlow
import SwitchProtocol

/// Monotonic nanoseconds.
public func monotonicNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// One switch connection at run time: feeds the `SwitchSession` state machine and executes its actions.
///
/// Runs on the controller's queue only. All protocol logic (xids, barriers, timeouts, the plan) lives
/// in the state machine; this class only moves bytes, calls the controller and writes log lines.
final class BridgeConnection: @unchecked Sendable {
    let serial: Int
    let connection: Connection
    unowned let controller: SipspanController
    private(set) var session: SwitchSession

    init(serial: Int, connection: Connection, controller: SipspanController) {
        self.serial = serial
        self.connection = connection
        self.controller = controller
        session = SwitchSession(configuration: controller.options.session, now: monotonicNow())
        session.logFlowChanges = controller.logger.logLevel <= .debug
    }

    var dpidText: String { session.dpidText }

    /// The connection went away (for any reason): the session takes no more input.
    func markClosed() { session.closed() }
    var bridgeName: String { session.bridgeName }

    /// Feeds one input to the state machine and carries out what it returns.
    func feed(_ input: SessionInput, now: UInt64 = monotonicNow()) {
        let actions = session.handle(input, now: now, context: controller.planningContext)
        execute(actions)
    }

    private func execute(_ actions: [SessionAction]) {
        for action in actions {
            switch action {
            case let .send(messages):
                var w = ByteWriter(capacity: 256 * messages.count)
                var flowMods = 0
                for m in messages {
                    m.message.encode(xid: m.xid, into: &w)
                    if case .flowMod = m.message { flowMods += 1 }
                }
                if flowMods > 0 { controller.metrics.flowModsSent.increment(by: Int64(flowMods)) }
                connection.send(w.bytes)
            case let .close(reason):
                controller.closeSession(self, reason: reason)
            case let .log(line):
                log(line)
            case let .claimDatapath(dpid):
                controller.claim(dpid, by: self)
            case .ready:
                controller.bridgeReady(self)
            case .confirmed:
                controller.bridgeConfirmed(self)
            case let .applied(change):
                controller.metrics.changesApplied.increment()
                controller.metrics.changeSeconds.record(Double(change.confirmed &- change.started) / 1e9)
                if let reload = change.reload { controller.reloadConfirmed(reload, by: self) }
            case .changeSent:
                break // the controller reads these from the actions of a plan change (see `planChanged`)
            case .scheduleReconcile:
                controller.queue.async { [weak self] in self?.feed(.reconcileDue) }
            case let .switchError(type, code):
                controller.metrics.switchErrors.increment()
                controller.limitedLog("switch error", key: .switchError(session.datapathID ?? 0), level: .warning, metadata: [
                    "dpid": .string(dpidText), "bridge": .string(bridgeName), "error": .string(OpenFlowErrorCode.describe(type: type, code: code)),
                ])
            case .macLearned:
                controller.metrics.macsLearned.increment()
            }
            if connection.isClosed { return }
        }
    }

    /// Feeds a plan change and returns what it sent (for the reload's summary line).
    func planChanged(reload: Int) -> (added: Int, removed: Int) {
        let actions = session.handle(.planChanged(reload: reload), now: monotonicNow(), context: controller.planningContext)
        var sent = (added: 0, removed: 0)
        for case let .changeSent(added, removed, _) in actions { sent.added += added; sent.removed += removed }
        execute(actions)
        return sent
    }

    private func log(_ line: SessionLog) {
        let level: Logger.Level
        switch line.level {
        case .trace: level = .trace
        case .debug: level = .debug
        case .info: level = .info
        case .notice: level = .notice
        case .warning: level = .warning
        case .error: level = .error
        }
        guard controller.logger.logLevel <= level else { return }
        var metadata: Logger.Metadata = ["peer": .string(connection.peer)]
        for (k, v) in line.fields { metadata[k] = .string(v) }
        if line.fields["bridge"] != nil { metadata["bridge"] = .string(controller.displayName(of: self)) }
        controller.logger.log(level: level, "\(line.message)", metadata: metadata)
    }
}
