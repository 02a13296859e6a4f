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

    /// Parses one SIP message (a UDP payload, or a TCP segment holding a whole message). Works on the
    /// bytes (one pass over the header lines, strings made only for the values it keeps): a media NIC
    /// sends every SIP frame through here.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<SIPMessage, ParseError> {
        guard bytes.count <= maximumSize else { return .failure(.tooLarge) }
        let data = Array(bytes)
        // Headers end at the first empty line (CRLF CRLF, or LF LF from lenient senders).
        guard let (headerEnd, bodyStart) = headerBoundary(data) else { return .failure(.noStartLine) }
        guard String(validating: data[..<headerEnd], as: UTF8.self) != nil else { return .failure(.notText) }
        // Lines end at LF, a CR before it dropped ("\r\n" or a bare "\n").
        var lines: [Range<Int>] = []
        var from = 0
        while from <= headerEnd {
            var lf = from
            while lf < headerEnd && data[lf] != 10 { lf += 1 }
            lines.append(from..<(lf > from && data[lf - 1] == 13 ? lf - 1 : lf))
            from = lf + 1
        }
        guard let first = lines.first, !first.isEmpty else { return .failure(.noStartLine) }
        guard let start = startLine(data[first]) else { return .failure(.badStartLine) }
        // The headers kept (first occurrence of each), continuation lines unfolded (RFC 3261 7.3.1).
        var values = [[UInt8]?](repeating: nil, count: Header.allCases.count)
        var lastKept: Int? = nil, count = 0
        for line in lines.dropFirst() where !line.isEmpty {
            if data[line.lowerBound] == 32 || data[line.lowerBound] == 9, count > 0 {
                if let k = lastKept { values[k]?.append(contentsOf: [32] + trimmed(data, line)) }
                continue
            }
            guard count < maximumHeaders else { return .failure(.tooManyHeaders) }
            count += 1
            guard let colon = data[line].firstIndex(of: 58) else {
                return .failure(.badHeader(String(decoding: data[line].prefix(32), as: UTF8.self)))
            }
            lastKept = nil
            if let h = Header(data, line.lowerBound..<colon), values[h.rawValue] == nil {
                values[h.rawValue] = trimmed(data, (colon + 1)..<line.upperBound)
                lastKept = h.rawValue
            }
        }
        func value(_ h: Header) -> [UInt8]? { values[h.rawValue] }
        guard let callID = value(.callID), !callID.isEmpty else { return .failure(.missingHeader("Call-ID")) }
        guard let cseqText = value(.cseq) else { return .failure(.missingHeader("CSeq")) }
        let cseqParts = cseqText.split(omittingEmptySubsequences: true, whereSeparator: { $0 == 32 || $0 == 9 })
        guard cseqParts.count == 2, let number = UInt32(String(decoding: cseqParts[0], as: UTF8.self)) else { return .failure(.badHeader("CSeq")) }
        let body = data[bodyStart...]
        var sdp: [UInt8]? = nil
        if let type = value(.contentType), asciiLowercased(trimmed(type, type.startIndex..<(type.firstIndex(of: 59) ?? type.endIndex))) == Array("application/sdp".utf8) {
            let length = value(.contentLength).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? body.count
            guard length >= 0, body.count >= length else { return .failure(.truncatedBody) }
            sdp = Array(body.prefix(length))
        }
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        return .success(SIPMessage(start: start, callID: text(callID), cseq: (number, text(Array(cseqParts[1])).uppercased()),
                                   fromTag: value(.from).flatMap(tag), toTag: value(.to).flatMap(tag), sdp: sdp))
    }

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
        init?(_ d: [UInt8], _ range: Range<Int>) {
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

    /// `range` of `d` without leading and trailing spaces and tabs.
    private static func trimmed(_ d: [UInt8], _ range: Range<Int>) -> [UInt8] { Array(d[trimmedBounds(d, range)]) }

    /// `range` narrowed past leading and trailing spaces and tabs of `d`.
    private static func trimmedBounds(_ d: [UInt8], _ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi && (d[lo] == 32 || d[lo] == 9) { lo += 1 }
        while hi > lo && (d[hi - 1] == 32 || d[hi - 1] == 9) { hi -= 1 }
        return lo..<hi
    }

    private static func headerBoundary(_ d: [UInt8]) -> (Int, Int)? {
        var i = 0
        while i + 1 < d.count {
            if d[i] == 10 && d[i + 1] == 10 { return (i, i + 2) }
            if i + 3 < d.count, d[i] == 13, d[i + 1] == 10, d[i + 2] == 13, d[i + 3] == 10 { return (i, i + 4) }
            i += 1
        }
        return nil
    }

    private static func startLine(_ line: ArraySlice<UInt8>) -> StartLine? {
        let parts = line.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2 else { return nil }
        let sip20 = Array("SIP/2.0".utf8)
        if parts[0].elementsEqual(sip20) {
            guard let status = Int(String(decoding: parts[1], as: UTF8.self)), (100...699).contains(status) else { return nil }
            return .response(status: status)
        }
        let isMethod = parts[0].allSatisfy { (65...90).contains($0) || $0 == 45 }
        guard parts.count == 3, parts[2].elementsEqual(sip20), isMethod else { return nil }
        return .request(method: String(decoding: parts[0], as: UTF8.self))
    }

    /// The `tag` parameter of a From or To header.
    private static func tag(_ value: [UInt8]) -> String? {
        // Parameters follow the name-addr (after '>') or the addr-spec.
        let params = value.lastIndex(of: 62).map { value[($0 + 1)...] } ?? value[...]
        let tagName = Array("tag".utf8)
        for slice in params.split(separator: 59, omittingEmptySubsequences: true).dropFirst(params.first == 59 ? 0 : 1) {
            let p = Array(slice)
            guard let eq = p.firstIndex(of: 61) else { continue }
            guard asciiLowercased(trimmed(p, 0..<eq)) == tagName else { continue }
            let v = trimmed(p, (eq + 1)..<p.count)
            return v.isEmpty ? nil : String(decoding: v, as: UTF8.self)
        }
        return nil
    }
}

/// ASCII letters lowercased, other bytes as they are (header names and media types are ASCII tokens).
func asciiLowercased(_ b: [UInt8]) -> [UInt8] { b.map(asciiLowercased) }

/// One byte: an ASCII letter lowercased, any other byte as it is.
func asciiLowercased(_ b: UInt8) -> UInt8 { (65...90).contains(b) ? b | 0x20 : b }
