/// OFPCR_ROLE_*: a controller's role on a switch (OpenFlow 1.3, 6.3.5). Only the master (or an
/// equal) may change flows; a slave's flow_mods are refused by the switch (OFPBRC_IS_SLAVE).
public enum ControllerRole: UInt32, Sendable, Codable {
    case noChange = 0, equal = 1, master = 2, slave = 3
}

/// OFPRRFC_*: codes of `ErrorType.roleRequestFailed`.
public enum RoleRequestFailedCode: UInt16, Sendable {
    /// The generation id is older than one the switch has seen: another master is newer.
    case stale = 0
    case unsupported = 1, badRole = 2
}
