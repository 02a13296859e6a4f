/// ofp_port: one switch port as the switch describes it (64 bytes on the wire).
public struct PortDescription: Hashable, Sendable {
    public static let size = 64
    public var portNumber: UInt32
    public var hardwareAddress: [UInt8]
    public var name: String
    public var config: UInt32
    public var state: UInt32

    public init(portNumber: UInt32, name: String, hardwareAddress: [UInt8] = [0, 0, 0, 0, 0, 0], config: UInt32 = 0, state: UInt32 = 0) {
        self.portNumber = portNumber; self.name = name; self.hardwareAddress = hardwareAddress
        self.config = config; self.state = state
    }

    func encode(into w: inout ByteWriter) {
        w.u32(portNumber); w.zeros(4); w.append(hardwareAddress.count == 6 ? hardwareAddress : [0, 0, 0, 0, 0, 0]); w.zeros(2)
        w.fixedString(name, 16); w.u32(config); w.u32(state)
        w.zeros(4 * 4) // curr, advertised, supported, peer
        w.zeros(8)     // curr_speed, max_speed
    }

    static func decode(_ r: inout ByteReader) throws -> PortDescription {
        var p = try r.sub(size, "ofp_port")
        let no = try p.u32(); try p.skip(4)
        let hw = try p.take(6); try p.skip(2)
        let name = try p.fixedString(16, "port.name")
        let config = try p.u32(), state = try p.u32()
        return PortDescription(portNumber: no, name: name, hardwareAddress: hw, config: config, state: state)
    }
}
