/// Reserved OpenFlow 1.3 port numbers.
public enum PortNumber {
    public static let max: UInt32 = 0xffff_ff00
    public static let inPort: UInt32 = 0xffff_fff8
    public static let table: UInt32 = 0xffff_fff9
    public static let normal: UInt32 = 0xffff_fffa
    public static let flood: UInt32 = 0xffff_fffb
    public static let all: UInt32 = 0xffff_fffc
    public static let controller: UInt32 = 0xffff_fffd
    public static let local: UInt32 = 0xffff_fffe
    public static let any: UInt32 = 0xffff_ffff

    /// A readable name for reserved ports, the number otherwise.
    public static func name(_ p: UInt32) -> String {
        switch p {
        case normal: return "NORMAL"
        case controller: return "CONTROLLER"
        case local: return "LOCAL"
        case inPort: return "IN_PORT"
        case flood: return "FLOOD"
        case all: return "ALL"
        case table: return "TABLE"
        case any: return "ANY"
        default: return String(p)
        }
    }
}
