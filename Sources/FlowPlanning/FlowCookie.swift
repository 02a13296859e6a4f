/// sipspan's cookies: a fixed 32-bit prefix marks every flow it owns; the second byte says which flow
/// layout (version of the flow set's shape) wrote it, the low byte which kind: `0x51959a40_0000LLKK`.
/// Per-call media flows carry their call's slot in the 16 bits above: `0x51959a40_SSSSLL06`.
///
/// Cookies carry no generation or instance id on purpose: two sipspan instances (a standby) with the
/// same policy compute the same cookies and so never fight over a flow.
public enum FlowCookie {
    /// "5195 9a40": sipspan. Flows whose cookie has another upper half are never touched.
    public static let prefix: UInt64 = 0x5195_9a40_0000_0000
    public static let prefixMask: UInt64 = 0xffff_ffff_0000_0000

    public enum Kind: UInt64, Sendable, CaseIterable {
        /// The lowest-priority NORMAL flow.
        case forwarding = 1
        /// Drops that keep the monitor NIC clean.
        case guard_ = 2
        /// Copies of SIP frames (table 0).
        case copy = 3
        /// Guest MAC learning from watched NICs.
        case learning = 4
        /// Delivery of copies to monitor NICs (table 1).
        case delivery = 5
        /// Per-call media copies (RTCP/RTP from the SDP): installed per call with an idle timeout,
        /// never part of a bridge's plan, never deleted by the reconciler.
        case media = 6
    }

    /// The flow layout this build writes. A sipspan that finds flows of a newer layout on a bridge
    /// leaves that bridge alone (a newer instance owns it, e.g. during a rolling upgrade); flows of an
    /// older layout are replaced, atomically. Layout 0 is every layout up to and including this one.
    public static let currentLayout: UInt8 = 0

    public static func cookie(_ kind: Kind, layout: UInt8 = currentLayout) -> UInt64 { prefix | UInt64(layout) << 8 | kind.rawValue }
    /// The cookie of one call's media flows: its slot (1…65535) on the bridge.
    public static func mediaCookie(slot: UInt16, layout: UInt8 = currentLayout) -> UInt64 { cookie(.media, layout: layout) | UInt64(slot) << 16 }
    /// The call slot of a media cookie (0 for other kinds).
    public static func slot(of cookie: UInt64) -> UInt16 { kind(of: cookie) == .media ? UInt16(truncatingIfNeeded: cookie >> 16) : 0 }
    /// The layout that wrote one of sipspan's cookies.
    public static func layout(of cookie: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: cookie >> 8) }
    /// The kind of one of sipspan's cookies, whatever its layout (nil for another owner's cookie).
    public static func kind(of cookie: UInt64) -> Kind? { isOurs(cookie) ? Kind(rawValue: cookie & 0xff) : nil }
    public static func isOurs(_ cookie: UInt64) -> Bool { cookie & prefixMask == prefix }
}

/// Priorities of sipspan's flows in table 0 (table 1 uses `delivery*`).
public enum FlowPriority {
    public static let normal: UInt16 = 0
    public static let learnUnknown: UInt16 = 900
    public static let learnKnown: UInt16 = 901
    /// Per-call media copies: below every SIP and fragment copy (a frame matching both is copied by
    /// the SIP flow), above learning.
    public static let mediaToGuest: UInt16 = 920
    public static let mediaFromGuest: UInt16 = 925
    public static let mediaBetweenGuests: UInt16 = 930
    public static let fragmentToGuest: UInt16 = 950
    public static let copyToGuest: UInt16 = 1000
    public static let fragmentFromGuest: UInt16 = 1050
    public static let copyFromGuest: UInt16 = 1100
    public static let fragmentBetweenGuests: UInt16 = 1150
    public static let copyBetweenGuests: UInt16 = 1200
    public static let guardDrop: UInt16 = 2000
    public static let deliveryTagged: UInt16 = 20
    public static let deliveryUntagged: UInt16 = 10
}
