import Foundation

/// Where `status` and `plan` find a running serve by default: the per-node unit's unix socket, else loopback.
enum StatusEndpoint {
    static let unixSocket = "/run/sipspan/status.sock"
    static var defaultAddress: String {
        FileManager.default.fileExists(atPath: unixSocket) ? "unix:\(unixSocket)" : "127.0.0.1:9653"
    }
}
