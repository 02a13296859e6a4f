import Foundation

/// `--pve DIR | none`: where Proxmox's cluster filesystem is, defaulting to /etc/pve when it exists.
enum PVEOption {
    static let defaultRoot = "/etc/pve"

    static func resolve(_ option: String?) -> String? {
        switch option {
        case "none": return nil
        case let dir?: return dir.hasSuffix("/") && dir.count > 1 ? String(dir.dropLast()) : dir
        case nil:
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: defaultRoot, isDirectory: &isDir) && isDir.boolValue ? defaultRoot : nil
        }
    }
}
