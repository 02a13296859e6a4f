/// OFPET_*: the type of an OFPT_ERROR message (OpenFlow 1.3.5, 7.5.4). Each has its own code enum.
public enum ErrorType: UInt16, Sendable, CaseIterable {
    case helloFailed = 0, badRequest = 1, badAction = 2, badInstruction = 3, badMatch = 4, flowModFailed = 5
    case groupModFailed = 6, portModFailed = 7, tableModFailed = 8, queueOpFailed = 9, switchConfigFailed = 10
    case roleRequestFailed = 11, meterModFailed = 12, tableFeaturesFailed = 13
    case experimenter = 0xffff

    /// The spec's name without its prefix: `BAD_REQUEST`.
    public var name: String {
        switch self {
        case .helloFailed: return "HELLO_FAILED"
        case .badRequest: return "BAD_REQUEST"
        case .badAction: return "BAD_ACTION"
        case .badInstruction: return "BAD_INSTRUCTION"
        case .badMatch: return "BAD_MATCH"
        case .flowModFailed: return "FLOW_MOD_FAILED"
        case .groupModFailed: return "GROUP_MOD_FAILED"
        case .portModFailed: return "PORT_MOD_FAILED"
        case .tableModFailed: return "TABLE_MOD_FAILED"
        case .queueOpFailed: return "QUEUE_OP_FAILED"
        case .switchConfigFailed: return "SWITCH_CONFIG_FAILED"
        case .roleRequestFailed: return "ROLE_REQUEST_FAILED"
        case .meterModFailed: return "METER_MOD_FAILED"
        case .tableFeaturesFailed: return "TABLE_FEATURES_FAILED"
        case .experimenter: return "EXPERIMENTER"
        }
    }
}

/// OFPHFC_*: codes of `ErrorType.helloFailed`.
public enum HelloFailedCode: UInt16, Sendable { case incompatible = 0, permissionsError = 1 }

/// OFPBRC_*: codes of `ErrorType.badRequest`.
public enum BadRequestCode: UInt16, Sendable {
    case badVersion = 0, badType = 1, badMultipart = 2, badExperimenter = 3, badExperimenterType = 4, permissionsError = 5
    case badLength = 6, bufferEmpty = 7, bufferUnknown = 8, badTableID = 9, isSlave = 10, badPort = 11, badPacket = 12
    case multipartBufferOverflow = 13
}

/// OFPFMFC_*: codes of `ErrorType.flowModFailed`.
public enum FlowModFailedCode: UInt16, Sendable {
    case unknown = 0, tableFull = 1, badTableID = 2, overlap = 3, permissionsError = 4, badTimeout = 5, badCommand = 6, badFlags = 7
}

/// Log text for an error message a switch sent.
public enum OpenFlowErrorCode {
    /// "OFPET_X/code" text for logs: `FLOW_MOD_FAILED/code 3`.
    public static func describe(type: UInt16, code: UInt16) -> String {
        "\(ErrorType(rawValue: type)?.name ?? "type\(type)")/code \(code)"
    }
}
