import Foundation

/// Holds what a running daemon is made of (servers, watchers, signal sources) for the life of the process.
///
/// `dispatchMain()` never returns, so nothing after it keeps a local alive, and an optimized build
/// releases locals after their last use: a server held only by a local is freed before it serves.
enum Daemon {
    nonisolated(unsafe) private static var held: [AnyObject] = []
    private static let lock = NSLock()

    static func keep(_ object: AnyObject) {
        lock.lock(); defer { lock.unlock() }
        held.append(object)
    }
}
