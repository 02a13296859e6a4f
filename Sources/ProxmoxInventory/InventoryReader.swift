import Foundation
import Policy

/// Reads the files an `Inventory` is built from out of a pmxcfs directory (`/etc/pve`), bounded.
public enum InventoryReader {
    /// At most this many guest configs are read (a cluster holds far fewer).
    public static let maximumConfigs = 100_000

    /// Whether pmxcfs is mounted at `root` right now: two `stat` calls, no read.
    public static func isMounted(root: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: root + "/.members") && fm.fileExists(atPath: root + "/.vmlist")
    }

    /// Relative path → bytes for `.vmlist`, `.members`, `user.cfg` and every `nodes/*/{qemu-server,lxc}/*.conf`;
    /// files that cannot be read are reported as diagnostics and left out.
    public static func read(root: String) -> (files: [String: [UInt8]], diagnostics: [Diagnostic]) {
        var files: [String: [UInt8]] = [:]
        var diagnostics: [Diagnostic] = []
        func read(_ rel: String, limit: Int) {
            let path = root + "/" + rel
            do {
                files[rel] = try BoundedFile.read(path, limit: limit)
            } catch {
                diagnostics.append(Diagnostic(.error, SourceLocation(file: path, line: 1, column: 1), "cannot read \(path): \(error)"))
            }
        }
        let fm = FileManager.default
        for rel in [".vmlist", ".members", "user.cfg"] where fm.fileExists(atPath: root + "/" + rel) {
            read(rel, limit: ClusterFiles.maximumFileSize + 1)
        }
        let nodes = (try? fm.contentsOfDirectory(atPath: root + "/nodes")) ?? []
        var count = 0
        for node in nodes.sorted() where !node.hasPrefix(".") {
            for dir in ["qemu-server", "lxc"] {
                let names = (try? fm.contentsOfDirectory(atPath: "\(root)/nodes/\(node)/\(dir)")) ?? []
                for name in names.sorted() where name.hasSuffix(".conf") && UInt32(name.dropLast(5)) != nil {
                    count += 1
                    guard count <= maximumConfigs else { break }
                    read("nodes/\(node)/\(dir)/\(name)", limit: GuestConfigParser.maximumFileSize + 1)
                }
            }
        }
        return (files, diagnostics)
    }
}
