/// A bounds-checked, big-endian reader over a byte buffer. Every read either
/// succeeds or throws `OpenFlowDecodeError.truncated`; nothing here can trap on input.
public struct ByteReader {
    @usableFromInline let bytes: [UInt8]
    /// Index of the next unread byte.
    public private(set) var offset: Int
    @usableFromInline let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
    }

    init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    /// Bytes left to read.
    public var remaining: Int { end - offset }

    mutating func require(_ n: Int, _ what: StaticString) throws {
        guard n >= 0, remaining >= n else {
            throw OpenFlowDecodeError.truncated(what: "\(what)", needed: n, available: max(remaining, 0))
        }
    }

    public mutating func u8(_ what: StaticString = "u8") throws -> UInt8 {
        try require(1, what)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16(_ what: StaticString = "u16") throws -> UInt16 {
        try require(2, what)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func u32(_ what: StaticString = "u32") throws -> UInt32 {
        try require(4, what)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    public mutating func u64(_ what: StaticString = "u64") throws -> UInt64 {
        try require(8, what)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    public mutating func take(_ n: Int, _ what: StaticString = "bytes") throws -> [UInt8] {
        try require(n, what)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    public mutating func skip(_ n: Int, _ what: StaticString = "padding") throws {
        try require(n, what)
        offset += n
    }

    /// A sub-reader over the next `n` bytes; this reader moves past them.
    public mutating func sub(_ n: Int, _ what: StaticString) throws -> ByteReader {
        try require(n, what)
        defer { offset += n }
        return ByteReader(bytes, range: offset..<(offset + n))
    }

    /// Reads the rest of the buffer.
    public mutating func rest() -> [UInt8] {
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    /// A fixed-size, NUL-padded string field (port names, descriptions).
    public mutating func fixedString(_ n: Int, _ what: StaticString) throws -> String {
        let raw = try take(n, what)
        let used = raw.prefix { $0 != 0 }
        return String(decoding: used, as: UTF8.self)
    }
}
