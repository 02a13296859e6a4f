/// Splits a byte stream into whole OpenFlow messages.
///
/// Framing is separate from decoding: `nextFrame` returns nil ("need more bytes") and consumes
/// nothing until a whole message is buffered. A header whose length is below 8 is a framing error
/// (the stream cannot be resynchronised); the length field is 16 bits, so a frame is at most 64 KiB
/// and the buffer never holds more than that plus one read.
public struct Framer {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes buffered but not yet returned as a frame.
    public var buffered: Int { buffer.count - start }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame (header included), nil if more bytes are needed.
    public mutating func nextFrame() throws -> [UInt8]? {
        guard buffered >= OpenFlowHeader.size else { return nil }
        let length = Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        guard length >= OpenFlowHeader.size else {
            throw OpenFlowDecodeError.badLength(what: "message header", length: length)
        }
        guard buffered >= length else { return nil }
        let frame = Array(buffer[start..<(start + length)])
        start += length
        if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        return frame
    }
}
