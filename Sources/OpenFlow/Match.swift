/// An OpenFlow 1.3 match (ofp_match of type OXM): a set of OXM fields.
///
/// Fields are kept sorted by (class, field), so two matches with the same fields compare equal
/// whatever order a switch reports them in.
public struct Match: Hashable, Comparable, Sendable, CustomStringConvertible {
    public private(set) var fields: [OXMField]

    public init(_ fields: [OXMField] = []) {
        self.fields = fields.sorted()
    }

    public static let any = Match()

    /// A total order (field by field) so flow sets sort deterministically without building strings.
    public static func < (a: Match, b: Match) -> Bool {
        for (x, y) in zip(a.fields, b.fields) where x != y {
            if x < y { return true }
            if y < x { return false }
            if x.mask != y.mask { return (x.mask ?? []).lexicographicallyPrecedes(y.mask ?? []) }
        }
        return a.fields.count < b.fields.count
    }

    public func value(of f: OXMField.Basic) -> OXMField? {
        fields.first { $0.oxmClass == OXMField.openFlowBasic && $0.field == f.rawValue }
    }

    public var inPort: UInt32? { value(of: .inPort).map { UInt32(truncatingIfNeeded: $0.integer) } }
    public var ethSrc: MACAddress? { value(of: .ethSrc).flatMap { $0.mask == nil ? MACAddress(bytes: $0.value) : nil } }
    public var ethDst: MACAddress? { value(of: .ethDst).flatMap { $0.mask == nil ? MACAddress(bytes: $0.value) : nil } }

    public var description: String { fields.isEmpty ? "any" : fields.map(\.description).joined(separator: ",") }

    /// Length on the wire without trailing padding (the ofp_match.length field).
    var unpaddedLength: Int { 4 + fields.reduce(0) { $0 + 4 + $1.value.count + ($1.mask?.count ?? 0) } }

    public func encode(into w: inout ByteWriter) {
        w.u16(1) // OFPMT_OXM
        w.u16(UInt16(unpaddedLength))
        for f in fields { f.encode(into: &w) }
        w.zeros((8 - unpaddedLength % 8) % 8)
    }

    public static func decode(_ r: inout ByteReader) throws -> Match {
        let type = try r.u16("match.type")
        guard type == 1 else { throw OpenFlowDecodeError.unsupported("match type \(type)") }
        let length = Int(try r.u16("match.length"))
        guard length >= 4 else { throw OpenFlowDecodeError.badLength(what: "match", length: length) }
        var body = try r.sub(length - 4, "match.oxms")
        var fields: [OXMField] = []
        while body.remaining > 0 {
            fields.append(try OXMField.decode(&body))
        }
        let padding = (8 - length % 8) % 8
        try r.skip(padding, "match.padding")
        return Match(fields)
    }
}
