/// The parts of a SIP message (RFC 3261) that per-call media copies need: request method or response
/// status, Call-ID, CSeq, the From/To tags, and the body when it is SDP. Pure and bounded: a message
/// is parsed from one datagram or TCP segment as captured, never more than `maximumSize` bytes.
public struct SIPMessage: Hashable, Sendable {
    public enum StartLine: Hashable, Sendable {
        case request(method: String)
        case response(status: Int)
    }

    public let start: StartLine
    public let callID: String
    public let cseq: (number: UInt32, method: String)
    public let fromTag: String?
    public let toTag: String?
    /// The SDP body, when Content-Type is application/sdp and the body is whole.
    public let sdp: [UInt8]?

    public static let maximumSize = 64 * 1024
    static let maximumHeaders = 256

    public static func == (a: SIPMessage, b: SIPMessage) -> Bool {
        a.start == b.start && a.callID == b.callID && a.cseq.number == b.cseq.number && a.cseq.method == b.cseq.method
            && a.fromTag == b.fromTag && a.toTag == b.toTag && a.sdp == b.sdp
    }
    public func hash(into h: inout Hasher) { h.combine(callID); h.combine(cseq.number); h.combine(cseq.method) }

    /// Why a payload is not a SIP message sipspan can use.
    public enum ParseError: Error, Hashable, Sendable {
        case tooLarge, notText, noStartLine, badStartLine, tooManyHeaders, missingHeader(String), badHeader(String), truncatedBody
    }

    /// Parses one SIP message (a UDP payload, or a TCP segment holding a whole message). One pass
    /// over the header lines of the bytes as given (a frame's payload slice is not copied), strings
    /// made only for the values it keeps: a media NIC sends every SIP frame through here.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<SIPMessage, ParseError> {
        guard bytes.count <= maximumSize else { return .failure(.tooLarge) }
        if let slice = bytes as? ArraySlice<UInt8> { return parse(slice: slice) }
        if let array = bytes as? [UInt8] { return parse(slice: array[...]) }
        return parse(slice: Array(bytes)[...])
    }

    private static func parse(slice data: ArraySlice<UInt8>) -> Result<SIPMessage, ParseError> {
        // Headers end at the first empty line (CRLF CRLF, or LF LF from lenient senders).
        guard let boundary = headerBoundary(data) else { return .failure(.noStartLine) }
        let headerEnd = boundary.headerEnd
        guard boundary.ascii || String(validating: data[..<headerEnd], as: UTF8.self) != nil else { return .failure(.notText) }
        // Lines end at LF, a CR before it dropped ("\r\n" or a bare "\n"); the headers kept are the
        // first occurrence of each, continuation lines unfolded (RFC 3261 7.3.1).
        var values = KeptHeaders()
        var start: StartLine?
        var lastKept: Header? = nil, count = 0
        var from = data.startIndex
        while from <= headerEnd {
            let lf = data[from..<headerEnd].firstIndex(of: 10) ?? headerEnd
            let line = from..<(lf > from && data[lf - 1] == 13 ? lf - 1 : lf)
            from = lf + 1
            guard start != nil else {
                guard !line.isEmpty else { return .failure(.noStartLine) }
                guard let s = startLine(data[line]) else { return .failure(.badStartLine) }
                start = s
                continue
            }
            guard !line.isEmpty else { continue }
            if data[line.lowerBound] == 32 || data[line.lowerBound] == 9, count > 0 {
                if let k = lastKept { values.unfold(k, data[trimmedBounds(data, line)], in: data) }
                continue
            }
            guard count < maximumHeaders else { return .failure(.tooManyHeaders) }
            count += 1
            guard let colon = data[line].firstIndex(of: 58) else {
                return .failure(.badHeader(String(decoding: data[line].prefix(32), as: UTF8.self)))
            }
            lastKept = nil
            if let h = Header(data, line.lowerBound..<colon), !values.has(h) {
                values.keep(h, trimmedBounds(data, (colon + 1)..<line.upperBound))
                lastKept = h
            }
        }
        guard let start else { return .failure(.noStartLine) }
        func value(_ h: Header) -> ArraySlice<UInt8>? { values.value(h, in: data) }
        guard let callID = value(.callID), !callID.isEmpty else { return .failure(.missingHeader("Call-ID")) }
        guard let cseqText = value(.cseq), let (number, method) = cseq(cseqText) else {
            return .failure(values.has(.cseq) ? .badHeader("CSeq") : .missingHeader("CSeq"))
        }
        let body = data[boundary.bodyStart...]
        var sdp: [UInt8]? = nil
        if let type = value(.contentType), isSDP(type) {
            let length = value(.contentLength).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? body.count
            guard length >= 0, body.count >= length else { return .failure(.truncatedBody) }
            sdp = Array(body.prefix(length))
        }
        return .success(SIPMessage(start: start, callID: String(decoding: callID, as: UTF8.self), cseq: (number, method),
                                   fromTag: value(.from).flatMap(tag), toTag: value(.to).flatMap(tag), sdp: sdp))
    }

    /// The values of the headers `parse` keeps: ranges of the message (plain integers, nothing to
    /// retain per header), or the unfolded text of a header continued on further lines (rare).
    private struct KeptHeaders {
        private var ranges = [Range<Int>?](repeating: nil, count: Header.allCases.count)
        private var unfolded: [(Header, [UInt8])] = []

        func has(_ h: Header) -> Bool { ranges[h.rawValue] != nil }

        mutating func keep(_ h: Header, _ range: Range<Int>) { ranges[h.rawValue] = range }

        func value(_ h: Header, in data: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
            if let u = unfolded.last(where: { $0.0 == h }) { return u.1[...] }
            return ranges[h.rawValue].map { data[$0] }
        }

        /// A continuation line of `h`: joined to its value with one space.
        mutating func unfold(_ h: Header, _ more: ArraySlice<UInt8>, in data: ArraySlice<UInt8>) {
            var joined = Array(value(h, in: data) ?? [])
            joined.append(32)
            joined.append(contentsOf: more)
            unfolded.append((h, joined))
        }
    }

    /// `CSeq: <number> <method>`: the number and the method uppercased.
    private static func cseq(_ value: ArraySlice<UInt8>) -> (UInt32, String)? {
        let isBlank = { (b: UInt8) in b == 32 || b == 9 }
        let v = value.drop(while: isBlank)  // an unfolded value may start with the joining space
        guard let numberEnd = v.firstIndex(where: isBlank) else { return nil }
        guard let methodStart = v[numberEnd...].firstIndex(where: { !isBlank($0) }) else { return nil }
        let methodEnd = v[methodStart...].firstIndex(where: isBlank) ?? v.endIndex
        guard v[methodEnd...].allSatisfy(isBlank),
              let number = UInt32(String(decoding: v[..<numberEnd], as: UTF8.self)) else { return nil }
        return (number, String(decoding: v[methodStart..<methodEnd].map(asciiUppercased), as: UTF8.self))
    }

    /// Whether a Content-Type value names `application/sdp` (parameters after `;` ignored).
    private static func isSDP(_ type: ArraySlice<UInt8>) -> Bool {
        let media = trimmedBounds(type, type.startIndex..<(type.firstIndex(of: 59) ?? type.endIndex))
        return media.count == applicationSDP.count && zip(type[media], applicationSDP).allSatisfy { asciiLowercased($0) == $1 }
    }
    private static let applicationSDP = Array("application/sdp".utf8)

    /// The headers `parse` keeps, by their full and compact names (RFC 3261 7.3.3).
    private enum Header: Int, CaseIterable {
        case callID, cseq, from, to, contentType, contentLength
        private static let names: [(name: [UInt8], compact: UInt8?, header: Header)] = [
            (Array("call-id".utf8), UInt8(ascii: "i"), .callID), (Array("cseq".utf8), nil, .cseq),
            (Array("from".utf8), UInt8(ascii: "f"), .from), (Array("to".utf8), UInt8(ascii: "t"), .to),
            (Array("content-type".utf8), UInt8(ascii: "c"), .contentType), (Array("content-length".utf8), UInt8(ascii: "l"), .contentLength),
        ]
        /// The header named by `d[range]` (spaces and tabs around it ignored, ASCII case-insensitive),
        /// compared in place: every header line of every SIP frame of a media NIC passes here.
        init?(_ d: ArraySlice<UInt8>, _ range: Range<Int>) {
            let name = SIPMessage.trimmedBounds(d, range)
            for entry in Header.names {
                if name.count == 1, entry.compact == asciiLowercased(d[name.lowerBound]) { self = entry.header; return }
                if entry.name.count == name.count, zip(d[name], entry.name).allSatisfy({ asciiLowercased($0) == $1 }) {
                    self = entry.header; return
                }
            }
            return nil
        }
    }

    /// `range` narrowed past leading and trailing spaces and tabs of `d`.
    private static func trimmedBounds(_ d: ArraySlice<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi && (d[lo] == 32 || d[lo] == 9) { lo += 1 }
        while hi > lo && (d[hi - 1] == 32 || d[hi - 1] == 9) { hi -= 1 }
        return lo..<hi
    }

    /// Where the headers end (the index of the empty line's first byte) and the body starts, and
    /// whether the headers are all ASCII (then they are valid UTF-8 without a closer look). One pass
    /// over the bytes, which looks around each LF only.
    private static func headerBoundary(_ d: ArraySlice<UInt8>) -> (headerEnd: Int, bodyStart: Int, ascii: Bool)? {
        d.withUnsafeBufferPointer { p -> (headerEnd: Int, bodyStart: Int, ascii: Bool)? in
            let n = p.count, base = d.startIndex
            var high: UInt8 = 0
            var i = 0
            while i < n {
                let b = p[i]
                high |= b
                if b == 10, i + 1 < n {
                    // LF LF at i, or CR LF CR LF at i - 1 (the earliest of both: see below).
                    if p[i + 1] == 10 { return (base + i, base + i + 2, high & 0x80 == 0) }
                    if i >= 1, i + 2 < n, p[i - 1] == 13, p[i + 1] == 13, p[i + 2] == 10 {
                        return (base + i - 1, base + i + 3, high & 0x80 == 0)
                    }
                }
                i += 1
            }
            return nil
        }
    }

    /// `METHOD uri SIP/2.0` or `SIP/2.0 status reason`, fields separated by runs of spaces.
    private static func startLine(_ line: ArraySlice<UInt8>) -> StartLine? {
        // A field: the next run of non-spaces.
        func field(after i: Int) -> Range<Int>? {
            guard let s = line[i...].firstIndex(where: { $0 != 32 }) else { return nil }
            return s..<(line[s...].firstIndex(of: 32) ?? line.endIndex)
        }
        guard let first = field(after: line.startIndex), let second = field(after: first.upperBound) else { return nil }
        if line[first].elementsEqual(sip20) {
            guard let status = Int(String(decoding: line[second], as: UTF8.self)), (100...699).contains(status) else { return nil }
            return .response(status: status)
        }
        let isMethod = line[first].allSatisfy { (65...90).contains($0) || $0 == 45 }
        // The rest starts one space after the second field: `uri  SIP/2.0` (two spaces) is not a request line.
        guard second.upperBound < line.endIndex, line[(second.upperBound + 1)...].elementsEqual(sip20), isMethod else { return nil }
        return .request(method: String(decoding: line[first], as: UTF8.self))
    }
    private static let sip20 = Array("SIP/2.0".utf8)

    /// The `tag` parameter of a From or To header.
    private static func tag(_ value: ArraySlice<UInt8>) -> String? {
        // Parameters follow the name-addr (after '>') or the addr-spec (its first ';'-piece is skipped).
        let params = value.lastIndex(of: 62).map { value[($0 + 1)...] } ?? value
        var skip = params.first != 59
        var i = params.startIndex
        while true {
            while i < params.endIndex && params[i] == 59 { i += 1 }
            guard i < params.endIndex else { return nil }
            let end = params[i...].firstIndex(of: 59) ?? params.endIndex
            let piece = params[i..<end]
            i = end
            if skip { skip = false; continue }
            guard let eq = piece.firstIndex(of: 61) else { continue }
            let name = trimmedBounds(piece, piece.startIndex..<eq)
            guard name.count == 3, zip(piece[name], tagName).allSatisfy({ asciiLowercased($0) == $1 }) else { continue }
            let v = trimmedBounds(piece, (eq + 1)..<piece.endIndex)
            return v.isEmpty ? nil : String(decoding: piece[v], as: UTF8.self)
        }
    }
    private static let tagName = Array("tag".utf8)
}

/// One byte: an ASCII letter lowercased, any other byte as it is.
func asciiLowercased(_ b: UInt8) -> UInt8 { (65...90).contains(b) ? b | 0x20 : b }

/// One byte: an ASCII letter uppercased, any other byte as it is.
func asciiUppercased(_ b: UInt8) -> UInt8 { (97...122).contains(b) ? b & 0xdf : b }
