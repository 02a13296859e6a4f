import XCTest
@testable import Policy

final class PolicyChangeFilterTests: XCTestCase {
    /// One `struct inotify_event` as the kernel writes it (host byte order, name NUL-padded).
    private func record(wd: Int32, mask: UInt32, name: String) -> [UInt8] {
        var nameBytes = Array(name.utf8)
        if !nameBytes.isEmpty { nameBytes += [UInt8](repeating: 0, count: 16 - nameBytes.count % 16) }
        func le(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
        return le(UInt32(bitPattern: wd)) + le(mask) + le(0) + le(UInt32(nameBytes.count)) + nameBytes
    }
    private let modify: UInt32 = 0x2, closeWrite: UInt32 = 0x8, movedTo: UInt32 = 0x80, deleteSelf: UInt32 = 0x400

    private var filter: PolicyChangeFilter {
        var f = PolicyChangeFilter()
        f.watches = [1: .directory, 2: .parentOf(fileName: "lab.yaml")]
        return f
    }

    func testAPolicyFileOfAWatchedDirectoryIsRelevant() {
        XCTAssertTrue(filter.isRelevant(record(wd: 1, mask: closeWrite, name: "proxies.yaml")[...]))
        XCTAssertTrue(filter.isRelevant(record(wd: 1, mask: movedTo, name: "b.yml")[...]))
        XCTAssertTrue(filter.isRelevant(record(wd: 1, mask: deleteSelf, name: "")[...]), "the directory itself")
    }

    func testOtherFilesOfAWatchedDirectoryAreNot() {
        let noise = record(wd: 1, mask: modify, name: "sipspan.log") + record(wd: 1, mask: modify, name: ".proxies.yaml.swp")
            + record(wd: 1, mask: closeWrite, name: "proxies.yaml~") + record(wd: 1, mask: modify, name: "4913")
        XCTAssertFalse(filter.isRelevant(noise[...]))
        // The same burst with one policy file in it is relevant, wherever it is.
        XCTAssertTrue(filter.isRelevant((noise + record(wd: 1, mask: closeWrite, name: "a.yaml") + noise)[...]))
    }

    func testAFileWatchedThroughItsParentMatchesItsNameOnly() {
        XCTAssertTrue(filter.isRelevant(record(wd: 2, mask: modify, name: "lab.yaml")[...]))
        XCTAssertFalse(filter.isRelevant(record(wd: 2, mask: modify, name: "other.yaml")[...]))
        XCTAssertFalse(filter.isRelevant(record(wd: 2, mask: modify, name: "sipspan.log")[...]))
    }

    func testUnknownWatchesAreIgnoredAndOverflowOrTruncationIsRelevant() {
        XCTAssertFalse(filter.isRelevant(record(wd: 9, mask: closeWrite, name: "a.yaml")[...]))
        XCTAssertTrue(filter.isRelevant(record(wd: -1, mask: 0x4000, name: "")[...]), "IN_Q_OVERFLOW")
        let truncated = record(wd: 1, mask: modify, name: "sipspan.log").dropLast(4)
        XCTAssertTrue(filter.isRelevant(truncated), "a record cut short is treated as a change")
        XCTAssertFalse(filter.isRelevant([][...]))
        XCTAssertFalse(filter.isRelevant([1, 2, 3][...]), "fewer bytes than a header")
    }

    func testASliceNotStartingAtZeroIsRead() {
        let bytes = [0xff, 0xff] + record(wd: 1, mask: closeWrite, name: "a.yaml")
        XCTAssertTrue(filter.isRelevant(bytes[2...]))
    }
}
