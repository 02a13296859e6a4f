import Foundation
import XCTest
@testable import ProxmoxInventory

/// Inputs the pve fuzz target (scripts/fuzz) found, kept as regressions.
final class FuzzFindingsTests: XCTestCase {
    /// CI 2026-12-03: a guest config of lines without ':' gave 57 diagnostics: the bound of 50 was
    /// checked after a `continue` that skipped it.
    func testAGuestConfigOfLinesWithoutColonsStopsAtTheDiagnosticBound() throws {
        let bytes = try XCTUnwrap(Data(base64Encoded: "c3RhYXQaaWMKdBppYwoJCglvc3Qiz2VuLn10YWljCgkKCW97dC99fW7gdm1iDjAgc3RhdGMKCQoJIm5vZHQaaWMKCQoJb3M7CgkKCW9zO2NhcnJpZXIKCQoJCQoJb3t0fX1u4HZtYg4wIHN0YXRjCgkKCSJub2R0GmljCgkKCW9zOwoJCglvc3RhaWMKCQoJb3t0L319buB2CgkKCW97dC99fW7gdm1iDjBkdBppYwoJCglvczsKCQoJb3M7Y2FycmllcgoJCgkJCglve3RzdGF0YwoJCgkibm9kdBppYwoJCglvczsKCQoJb3M7Y2FycmllcgoJCgkJCglve3R9fW7gdm1iDjAgc3RhdGMKCQoJIm5vZHQaaWMKCQoJb3M7CgkKCW9zdGFpYwoJCglve3QvfX1u4HYKCQoJb3t0L319buB2bWIOMGR0GmljCgkKCW9zOwoJCglvcztjYXJyaX19buB2bWIOMCA7Y2FycmllcgoJCgkibm8="))
        for kind in [Guest.Kind.qemu, .lxc] {
            guard case let .failure(e) = GuestConfigParser.parse(bytes: Array(bytes), file: "f.conf", vmid: 101, kind: kind, node: "n") else {
                return XCTFail("\(kind): parsed")
            }
            XCTAssertEqual(e.diagnostics.count, GuestConfigParser.maximumDiagnostics, "\(kind)")
        }
        let many = Array(String(repeating: "no colon here\n", count: 1000).utf8)
        guard case let .failure(e) = GuestConfigParser.parse(bytes: many, file: "f.conf", vmid: 101, kind: .qemu, node: "n") else {
            return XCTFail("parsed")
        }
        XCTAssertEqual(e.diagnostics.count, GuestConfigParser.maximumDiagnostics)
        XCTAssertEqual(e.diagnostics.last.map { "\($0)" }, "f.conf:50:1: error: expected 'key: value'")
    }
}
