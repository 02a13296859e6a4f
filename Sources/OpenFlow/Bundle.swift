/// OpenFlow bundles in 1.3: the ONF extension (EXT-230) that OpenFlow 1.4 made standard, carried in
/// OFPT_EXPERIMENTER with ONF's experimenter id. OVS implements it for 1.3 (`ovs-ofctl --bundle`):
/// the flow_mods added to a bundle take effect together, atomically, at its commit.
public enum Bundle {
    /// ONF's experimenter id ("ONF\0").
    public static let onfExperimenter: UInt32 = 0x4f4e_4600
    /// ONFT_BUNDLE_CONTROL and ONFT_BUNDLE_ADD_MESSAGE.
    public static let controlSubtype: UInt32 = 2300
    public static let addSubtype: UInt32 = 2301
    /// OFPBF_ATOMIC: all or nothing. OFPBF_ORDERED: in the order added.
    public static let atomic: UInt16 = 1 << 0
    public static let ordered: UInt16 = 1 << 1
}

/// OFPBCT_*: what a bundle control message asks or answers.
public enum BundleControlType: UInt16, Sendable {
    case openRequest = 0, openReply = 1, closeRequest = 2, closeReply = 3
    case commitRequest = 4, commitReply = 5, discardRequest = 6, discardReply = 7
}

/// OFPBFC_*: codes of OFPET_BUNDLE_FAILED (ONF: experimenter errors; OpenFlow 1.4: type 17).
public enum BundleFailedCode: UInt16, Sendable {
    case unknown = 0, permissionsError = 1, badID = 2, bundleExists = 3, bundleClosed = 4, outOfBundles = 5
    case badType = 6, badFlags = 7, messageBadLength = 8, messageBadXID = 9, messageUnsupported = 10, messageConflict = 11
    case messageTooMany = 12, messageFailed = 13, timeout = 14, bundleInProgress = 15
}
