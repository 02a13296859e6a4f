/// Why a byte sequence is not a valid OpenFlow 1.3 message.
public enum OpenFlowDecodeError: Error, Equatable, CustomStringConvertible {
    case truncated(what: String, needed: Int, available: Int)
    case badLength(what: String, length: Int)
    case badVersion(UInt8)
    case unknownType(UInt8)
    case trailingBytes(what: String, count: Int)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .truncated(what, needed, available): return "truncated \(what): need \(needed) bytes, have \(available)"
        case let .badLength(what, length): return "bad length \(length) in \(what)"
        case let .badVersion(v): return "unsupported OpenFlow version 0x\(String(v, radix: 16))"
        case let .unknownType(t): return "unknown message type \(t)"
        case let .trailingBytes(what, count): return "\(count) trailing bytes after \(what)"
        case let .unsupported(s): return "unsupported: \(s)"
        }
    }
}
