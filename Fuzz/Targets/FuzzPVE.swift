import ProxmoxInventory

/// libFuzzer target: the /etc/pve parsers (guest configs, .vmlist, .members, user.cfg, interfaces)
/// on arbitrary bytes: a value or diagnostics, bounded, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPVE(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for kind in [Guest.Kind.qemu, .lxc] {
        if case let .failure(e) = GuestConfigParser.parse(bytes: bytes, file: "f.conf", vmid: 101, kind: kind, node: "n") {
            precondition(e.diagnostics.count <= GuestConfigParser.maximumDiagnostics, "diagnostics are bounded")
        }
    }
    _ = ClusterFiles.vmlist(bytes, file: ".vmlist")
    _ = ClusterFiles.members(bytes, file: ".members")
    _ = ClusterFiles.pools(bytes, file: "user.cfg")
    _ = NetworkInterfaces.ovsBridges(String(decoding: bytes, as: UTF8.self))
    return 0
}
