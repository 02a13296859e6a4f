/// OFPMP_*: multipart request and reply types sipspan speaks.
public enum MultipartType: UInt16, Sendable {
    case desc = 0, flow = 1, portDesc = 13
}

/// OFPAT_*: action types sipspan speaks.
public enum ActionType: UInt16, Sendable {
    case output = 0, popVlan = 18, setField = 25
}

/// OFPIT_*: instruction types.
public enum InstructionType: UInt16, Sendable {
    case gotoTable = 1, writeMetadata = 2, writeActions = 3, applyActions = 4, clearActions = 5
}

/// OFPT_SET_CONFIG flags.
public enum ConfigFlags {
    /// OVS's fragment handling "nx-match" (value 3): a first fragment shows its L4 ports, later
    /// fragments are matched by `ip_frag=later`.
    public static let fragmentsNXMatch: UInt16 = 3
}
