import Policy

/// libFuzzer target: the policy parser on arbitrary bytes: a session or diagnostics, bounded, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch PolicyParser.parse(bytes: bytes, file: "fuzz.yaml", defaultName: "fuzz") {
    case .success: break
    case let .failure(e): precondition(e.diagnostics.count <= 51, "diagnostics are bounded")
    }
    return 0
}
