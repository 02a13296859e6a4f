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

    /// Parses one SIP message (a UDP payload, or a TCP segment holding a whole message).
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<SIPMessage, ParseError> {
        guard bytes.count <= maximumSize else { return .failure(.tooLarge) }
        let data = Array(bytes)
        // Headers end at the first empty line (CRLF CRLF, or LF LF from lenient senders).
        guard let (headerEnd, bodyStart) = headerBoundary(data) else { return .failure(.noStartLine) }
        guard let head = String(validating: data[..<headerEnd], as: UTF8.self) else { return .failure(.notText) }
        // "\r\n" is one Character in Swift: split on it and on a bare "\n".
        var lines = head.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\r\n" || $0 == "\n" })
        guard let first = lines.first, !first.isEmpty else { return .failure(.noStartLine) }
        lines.removeFirst()
        guard let start = startLine(first) else { return .failure(.badStartLine) }
        // Unfold continuation lines (RFC 3261 7.3.1), bounded.
        var headers: [(String, Substring)] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", let last = headers.popLast() {
                headers.append((last.0, Substring(last.1 + " " + line.drop { $0 == " " || $0 == "\t" })))
                continue
            }
            guard headers.count < maximumHeaders else { return .failure(.tooManyHeaders) }
            guard let colon = line.firstIndex(of: ":") else { return .failure(.badHeader(String(line.prefix(32)))) }
            let name = canonical(line[..<colon].trimmingSpaces().lowercased())
            headers.append((name, line[line.index(after: colon)...].trimmingSpaces()))
        }
        func value(_ name: String) -> Substring? { headers.first { $0.0 == name }?.1 }
        guard let callID = value("call-id"), !callID.isEmpty else { return .failure(.missingHeader("Call-ID")) }
        guard let cseqText = value("cseq") else { return .failure(.missingHeader("CSeq")) }
        let cseqParts = cseqText.split(separator: " ", omittingEmptySubsequences: true)
        guard cseqParts.count == 2, let number = UInt32(cseqParts[0]) else { return .failure(.badHeader("CSeq")) }
        let body = data[bodyStart...]
        var sdp: [UInt8]? = nil
        let type = value("content-type").map { $0.split(separator: ";").first.map { $0.trimmingSpaces().lowercased() } ?? "" }
        if type == "application/sdp" {
            let length = value("content-length").flatMap { Int($0) } ?? body.count
            guard length >= 0, body.count >= length else { return .failure(.truncatedBody) }
            sdp = Array(body.prefix(length))
        }
        return .success(SIPMessage(start: start, callID: String(callID), cseq: (number, String(cseqParts[1]).uppercased()),
                                   fromTag: value("from").flatMap(tag), toTag: value("to").flatMap(tag), sdp: sdp))
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

    private static func startLine(_ line: Substring) -> StartLine? {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2 else { return nil }
        if parts[0] == "SIP/2.0" {
            guard let status = Int(parts[1]), (100...699).contains(status) else { return nil }
            return .response(status: status)
        }
        guard parts.count == 3, parts[2] == "SIP/2.0", parts[0].allSatisfy({ $0.isUppercase || $0 == "-" }) else { return nil }
        return .request(method: String(parts[0]))
    }

    /// Compact header forms (RFC 3261 7.3.3) to their full names.
    private static func canonical(_ name: String) -> String {
        switch name {
        case "i": return "call-id"
        case "f": return "from"
        case "t": return "to"
        case "c": return "content-type"
        case "l": return "content-length"
        default: return name
        }
    }

    /// The `tag` parameter of a From or To header.
    private static func tag(_ value: Substring) -> String? {
        // Parameters follow the name-addr (after '>') or the addr-spec.
        let params = value.lastIndex(of: ">").map { value[value.index(after: $0)...] } ?? value
        for p in params.split(separator: ";").dropFirst(params.hasPrefix(";") ? 0 : 1) {
            let kv = p.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingSpaces().lowercased() == "tag" { return String(kv[1].trimmingSpaces()) }
        }
        return nil
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
