import ArgumentParser
import Foundation

/// `--pve DIR | none`, shared by serve, check and doctor: where Proxmox's cluster filesystem is,
/// defaulting to /etc/pve when it exists.
struct PVEOption: ParsableArguments {
    static let defaultRoot = "/etc/pve"

    @Option(name: .long, help: "Proxmox's cluster filesystem: guests, their MACs, tags, pools, nodes ('none' to go without; default /etc/pve when it exists).")
    var pve: String?

    /// The directory to read, or nil (`none`, or no /etc/pve).
    var root: String? {
        switch pve {
        case "none": return nil
        case let dir?: return dir.hasSuffix("/") && dir.count > 1 ? String(dir.dropLast()) : dir
        case nil:
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: Self.defaultRoot, isDirectory: &isDir) && isDir.boolValue ? Self.defaultRoot : nil
        }
    }

    /// For serve: a directory named explicitly must exist.
    func requireExistingDirectory() throws {
        guard let pve, pve != "none" else { return }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pve, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--pve \(pve): no such directory (use --pve none to run without the Proxmox inventory)")
        }
    }
}
