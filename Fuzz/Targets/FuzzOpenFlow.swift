import OpenFlow

/// libFuzzer target: the OpenFlow framer and decoder on arbitrary bytes. Any input must end in
/// frames, typed errors or "need more bytes"; never a trap. Decoded messages must re-encode.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOpenFlow(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var framer = Framer()
    // Feed in two pieces to exercise partial frames.
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    framer.append(bytes[0..<cut])
    var frames: [[UInt8]] = []
    while let f = try? framer.nextFrame() { frames.append(f) }
    framer.append(bytes[cut...])
    while let f = try? framer.nextFrame() { frames.append(f) }
    for f in frames {
        guard let (header, message) = try? Message.decode(f) else { continue }
        let again = message.encoded(xid: header.xid)
        _ = try? Message.decode(again)
    }
    return 0
}
