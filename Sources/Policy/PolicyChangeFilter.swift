/// Which inotify events on the policy paths can change the policy set. A directory holding
/// policies may hold other files that change all the time (a log, an editor's swap file): their
/// events must neither trigger readings nor keep postponing one. Pure: bytes of inotify records in,
/// a decision out.
public struct PolicyChangeFilter: Sendable {
    /// What one inotify watch stands for.
    public enum Watch: Sendable, Equatable {
        /// A policy directory: its policy files (`PolicyLoader.isPolicyFileName`) and itself.
        case directory
        /// The parent directory of a policy file given by path: that file's name only.
        case parentOf(fileName: String)
    }

    /// Watches by inotify watch descriptor.
    public var watches: [Int32: Watch] = [:]

    public init() {}

    /// `IN_Q_OVERFLOW`: events were lost; everything may have changed.
    static let overflowFlag: UInt32 = 0x0000_4000

    /// True when any record in `records` (the bytes of one or more `struct inotify_event`, as read
    /// from an inotify descriptor) may change what the policy files hold.
    public func isRelevant(_ records: ArraySlice<UInt8>) -> Bool {
        var i = records.startIndex
        // struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; char name[len]; }
        while records.endIndex - i >= 16 {
            let wd = Int32(bitPattern: word(records, i)), mask = word(records, i + 4), length = Int(word(records, i + 12))
            let nameStart = i + 16
            guard length <= records.endIndex - nameStart else { return true }  // truncated: be safe
            let nameBytes = records[nameStart..<(nameStart + length)].prefix { $0 != 0 }
            i = nameStart + length
            if mask & Self.overflowFlag != 0 { return true }
            guard let watch = watches[wd] else { continue }
            let name = String(decoding: nameBytes, as: UTF8.self)
            switch watch {
            case .directory:
                // The directory itself (deleted, moved) or one of its policy files.
                if name.isEmpty || PolicyLoader.isPolicyFileName(name) { return true }
            case let .parentOf(fileName):
                if name == fileName || name.isEmpty { return true }
            }
        }
        return false
    }

    private func word(_ b: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
        // inotify records are in the host's byte order.
        b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at - b.startIndex, as: UInt32.self) }
    }
}
