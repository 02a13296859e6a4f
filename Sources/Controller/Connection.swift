import Dispatch
import OpenFlow
import SwitchProtocol

/// One switch connection's byte plumbing on Dispatch sources: reads frames, writes without blocking.
///
/// All methods run on `queue`. Reads are bounded (one 64 KiB chunk per event; the framer never holds
/// more than one message plus a chunk); pending output is bounded by `maximumPendingOutput`, past
/// which the peer is considered stuck and the connection closes, so a slow bridge never holds up others.
final class Connection: @unchecked Sendable {
    static let readChunk = 64 * 1024
    static let maximumPendingOutput = 32 * 1024 * 1024

    let peer: String
    private let transport: Transport
    private let queue: DispatchQueue
    private let readSource: DispatchSourceRead
    private let writeSource: DispatchSourceWrite
    private var writeSourceActive = false
    private var framer = Framer()
    private var output: [UInt8] = []
    private var outputStart = 0
    private(set) var isClosed = false
    /// How long the output of a batch of frames may wait for more before it is written (nil: at once).
    /// One write carries more FLOW_MODs then, and each pass of ovs-vswitchd's main loop costs per write.
    var writeHold: DispatchTimeInterval?
    private var holdScheduled = false
    /// Shared by all connections: they all run on one serial queue.
    nonisolated(unsafe) private static let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readChunk, alignment: 8)

    /// Called with each whole frame.
    var onFrame: ((_ frame: [UInt8]) -> Void)?
    /// Called once, with the reason, when the connection closes for any cause.
    var onClose: ((_ reason: CloseReason) -> Void)?

    init(transport: Transport, peer: String, queue: DispatchQueue) {
        self.transport = transport
        self.peer = peer
        self.queue = queue
        readSource = DispatchSource.makeReadSource(fileDescriptor: transport.fd, queue: queue)
        writeSource = DispatchSource.makeWriteSource(fileDescriptor: transport.fd, queue: queue)
    }

    func start() {
        readSource.setEventHandler { [weak self] in self?.readable() }
        writeSource.setEventHandler { [weak self] in self?.flush() }
        // The socket is closed only once both sources are cancelled: closing it earlier lets a new
        // connection reuse the descriptor while Dispatch still watches it for the old one, and that
        // connection's read events are then never delivered.
        let t = transport
        var remaining = 2
        let closeWhenBothCancelled = { remaining -= 1; if remaining == 0 { t.close() } }
        readSource.setCancelHandler(handler: closeWhenBothCancelled)
        writeSource.setCancelHandler(handler: closeWhenBothCancelled)
        readSource.resume()
    }

    /// Queues bytes and tries to write them at once.
    func send(_ bytes: [UInt8]) {
        guard !isClosed, !bytes.isEmpty else { return }
        if outputStart > 0 && outputStart >= output.count / 2 {
            output.removeFirst(outputStart); outputStart = 0
        }
        output.append(contentsOf: bytes)
        if output.count - outputStart > Connection.maximumPendingOutput {
            close(CloseReason(.notReading, "peer is not reading: more than \(Connection.maximumPendingOutput / 1024 / 1024) MiB pending"))
            return
        }
        // Replies to the frames of one read go out in one write, after the last of them.
        if handlingFrames { return }
        flush()
    }
    private var handlingFrames = false

    /// Runs `body` (which may `send` several times) and writes what it queued in one write.
    func batchingWrites(_ body: () -> Void) {
        guard !handlingFrames else { return body() }
        handlingFrames = true
        body()
        handlingFrames = false
        if pendingOutput > 0 && !writeSourceActive { flushAfterHold() }
    }

    /// Writes now, or once `writeHold` has passed (what more batches queue meanwhile goes with it).
    private func flushAfterHold() {
        guard let hold = writeHold else { return flush() }
        guard !holdScheduled else { return }
        holdScheduled = true
        queue.asyncAfter(deadline: .now() + hold) { [weak self] in
            guard let self else { return }
            self.holdScheduled = false
            if self.pendingOutput > 0 && !self.writeSourceActive { self.flush() }
        }
    }

    var pendingOutput: Int { output.count - outputStart }

    /// The TLS peer's certificate common name, nil for plain TCP or unix sockets.
    var peerCommonName: String? { transport.peerCommonName }

    private func flush() {
        while !isClosed && outputStart < output.count {
            let result = output.withUnsafeBytes { raw in
                transport.write(UnsafeRawBufferPointer(rebasing: raw[outputStart...]))
            }
            switch result {
            case let .bytes(n):
                outputStart += n
            case .wouldBlock:
                // Either the send buffer is full (wait until writable) or TLS waits for input (the
                // next read event retries the write).
                setWriteInterest(transport.wantsWritable); scheduleReadIfBuffered(); return
            case .closed:
                close(CloseReason(.peerClosed, "peer closed the connection")); return
            case let .failed(why):
                close(CloseReason(.ioError, "write failed: \(why)")); return
            }
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.count <= 1 << 20)
            outputStart = 0
        }
        setWriteInterest(transport.wantsWritable)
        scheduleReadIfBuffered()
    }

    /// Input a transport holds internally (TLS) raises no read event: read it on the next turn.
    private func scheduleReadIfBuffered() {
        guard !isClosed, transport.hasBufferedInput, !readScheduled else { return }
        readScheduled = true
        queue.async { [weak self] in
            self?.readScheduled = false
            self?.readable()
        }
    }
    private var readScheduled = false

    private func setWriteInterest(_ on: Bool) {
        guard on != writeSourceActive, !isClosed else { return }
        writeSourceActive = on
        if on { writeSource.resume() } else { writeSource.suspend() }
    }

    private func readable() {
        // A few reads per event: TLS may hold decrypted bytes that no further event will announce.
        for _ in 0..<4 {
            guard !isClosed else { return }
            switch transport.read(into: Connection.readBuffer) {
            case let .bytes(n):
                framer.append(UnsafeRawBufferPointer(rebasing: Connection.readBuffer[0..<n]))
                batchingWrites {
                    do {
                        while !isClosed, let frame = try framer.nextFrame() { onFrame?(frame) }
                    } catch {
                        close(CloseReason(.malformedMessage, "framing error: \(error)"))
                    }
                }
            case .wouldBlock:
                if pendingOutput > 0 && !holdScheduled { flush() }
                return
            case .closed:
                close(CloseReason(.peerClosed, "peer closed the connection")); return
            case let .failed(why):
                close(CloseReason(.ioError, "read failed: \(why)")); return
            }
            if !transport.hasBufferedInput { return }
        }
        scheduleReadIfBuffered()
    }

    /// Closes the socket (after trying once more to write what is pending) and reports `reason`.
    func close(_ reason: CloseReason) {
        guard !isClosed else { return }
        if outputStart < output.count {
            _ = output.withUnsafeBytes { raw in transport.write(UnsafeRawBufferPointer(rebasing: raw[outputStart...])) }
        }
        isClosed = true
        if !writeSourceActive { writeSource.resume() }
        writeSource.cancel()
        readSource.cancel()
        output = []
        let handler = onClose
        onClose = nil; onFrame = nil
        handler?(reason)
    }
}
