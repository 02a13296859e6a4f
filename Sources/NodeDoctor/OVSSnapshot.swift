import Foundation

/// What `sipspan doctor` reads of a node's Open vSwitch: bridges, their ports and controllers, from
/// `ovs-vsctl --format=json list …`. Pure: JSON in, model out.
public struct OVSSnapshot: Hashable, Sendable {
    public struct Bridge: Hashable, Sendable {
        public let name: String
        public let controllers: [String]
        public let failMode: String?
        public let protocols: [String]
        public let ports: [Port]
    }
    public struct Port: Hashable, Sendable {
        public let name: String
        public let tag: Int?
        /// Empty: the port carries every VLAN (or is an access port when `tag` is set).
        public let trunks: [Int]
        /// The interface of the same name: its type (`""` for a system port, `erspan`, `vxlan`, …) and options.
        public var type: String = ""
        public var options: [String: String] = [:]
    }

    public let bridges: [Bridge]

    public init(bridges: [Bridge]) { self.bridges = bridges }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The outputs of `ovs-vsctl --format=json --columns=… list Bridge|Port|Controller[|Interface]`.
    public static func parse(bridges: [UInt8], ports: [UInt8], controllers: [UInt8], interfaces: [UInt8]? = nil) throws -> OVSSnapshot {
        var interfaceInfo: [String: (String, [String: String])] = [:]
        if let interfaces {
            for row in try table(interfaces, "Interface") {
                guard let name = row["name"] as? String else { continue }
                interfaceInfo[name] = ((row["type"] as? String) ?? "", map(row["options"]))
            }
        }
        let controllerRows = try table(controllers, "Controller")
        var targets: [String: String] = [:]
        for row in controllerRows { if let id = uuid(row["_uuid"]), let t = row["target"] as? String { targets[id] = t } }
        var portsByID: [String: Port] = [:]
        for row in try table(ports, "Port") {
            guard let id = uuid(row["_uuid"]), let name = row["name"] as? String else { continue }
            let tag = (row["tag"] as? Int) ?? nil
            var port = Port(name: name, tag: tag, trunks: Array(integers(row["trunks"]).prefix(4096)))
            if let (type, options) = interfaceInfo[name] { port.type = type; port.options = options }
            portsByID[id] = port
        }
        var out: [Bridge] = []
        for row in try table(bridges, "Bridge") {
            guard let name = row["name"] as? String else { continue }
            let controllers = uuids(row["controller"]).compactMap { targets[$0] }.sorted()
            let ports = uuids(row["ports"]).compactMap { portsByID[$0] }.sorted { $0.name < $1.name }
            out.append(Bridge(name: name, controllers: controllers, failMode: strings(row["fail_mode"]).first,
                              protocols: strings(row["protocols"]), ports: ports))
        }
        return OVSSnapshot(bridges: out.sorted { $0.name < $1.name })
    }

    /// Rows of `{"headings": [...], "data": [[...], ...]}` as column → value.
    private static func table(_ bytes: [UInt8], _ what: String) throws -> [[String: Any]] {
        guard bytes.count <= 64 << 20, let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let headings = obj["headings"] as? [String], let data = obj["data"] as? [[Any]] else {
            throw ParseError(description: "ovs-vsctl's \(what) table is not the expected JSON")
        }
        return data.map { row in Dictionary(zip(headings, row).map { ($0, $1) }, uniquingKeysWith: { a, _ in a }) }
    }

    /// `["uuid", "…"]`.
    private static func uuid(_ v: Any?) -> String? {
        guard let a = v as? [Any], a.count == 2, a[0] as? String == "uuid" else { return nil }
        return a[1] as? String
    }

    /// An OVSDB set (`["set", [...]]`) or a single atom, as its elements.
    private static func atoms(_ v: Any?) -> [Any] {
        if let a = v as? [Any], a.count == 2, a[0] as? String == "set", let items = a[1] as? [Any] { return items }
        if let v, !(v is NSNull) { return [v] }
        return []
    }
    private static func uuids(_ v: Any?) -> [String] {
        if let single = uuid(v) { return [single] }
        return atoms(v).compactMap(uuid)
    }
    private static func strings(_ v: Any?) -> [String] { atoms(v).compactMap { $0 as? String } }
    /// `["map", [["k", "v"], …]]`.
    private static func map(_ v: Any?) -> [String: String] {
        guard let a = v as? [Any], a.count == 2, a[0] as? String == "map", let pairs = a[1] as? [[Any]] else { return [:] }
        var out: [String: String] = [:]
        for p in pairs.prefix(1000) where p.count == 2 { if let k = p[0] as? String, let val = p[1] as? String { out[k] = val } }
        return out
    }
    private static func integers(_ v: Any?) -> [Int] { atoms(v).compactMap { $0 as? Int } }
}
