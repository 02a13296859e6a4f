import Foundation

/// Loads policy files and directories into one `PolicySet`.
public enum PolicyLoader {
    /// Whether a directory entry is a policy file (`*.yaml` / `*.yml`, not an editor leftover).
    public static func isPolicyFileName(_ name: String) -> Bool {
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
        return !name.hasPrefix(".") && !name.hasSuffix("~")
    }

    /// The policy files a path stands for: the file itself, or a directory's policy files (not recursive), sorted.
    public static func files(at path: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw PolicyErrors([Diagnostic(.error, SourceLocation(file: path, line: 1, column: 1), "no such file or directory")])
        }
        guard isDir.boolValue else { return [path] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) } ?? error.localizedDescription
            throw PolicyErrors([Diagnostic(.error, SourceLocation(file: path, line: 1, column: 1), "cannot read \(path): \(reason)")])
        }
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        return names.filter(isPolicyFileName).sorted().map { "\(base)/\($0)" }
    }

    /// The session name used when a file has no `name:` key.
    public static func defaultName(forFile path: String) -> String {
        var base = (path as NSString).lastPathComponent
        for ext in [".yaml", ".yml"] where base.hasSuffix(ext) { base = String(base.dropLast(ext.count)) }
        return base
    }

    /// Reads at most `PolicyParser.maximumFileSize + 1` bytes of a file; an unreadable file is an
    /// error naming the reason ("cannot read FILE: Permission denied"), never an empty policy.
    public static func read(file: String) throws -> [UInt8] {
        do {
            return try BoundedFile.read(file, limit: PolicyParser.maximumFileSize + 1)
        } catch let e as BoundedFile.ReadError {
            throw PolicyErrors([Diagnostic(.error, SourceLocation(file: file, line: 1, column: 1), "cannot read \(file): \(e.reason)")])
        }
    }

    /// Loads every file under `paths`. Either every file is valid and names are unique, or all diagnostics.
    public static func load(paths: [String]) -> Result<PolicySet, PolicyErrors> {
        var contents: [(String, [UInt8])] = []
        var diagnostics: [Diagnostic] = []
        for path in paths {
            do {
                for f in try files(at: path) { contents.append((f, try read(file: f))) }
            } catch let e as PolicyErrors {
                diagnostics += e.diagnostics
            } catch {
                diagnostics.append(Diagnostic(.error, SourceLocation(file: path, line: 1, column: 1), "cannot read: \(error.localizedDescription)"))
            }
        }
        switch load(contents: contents) {
        case let .success(set) where diagnostics.isEmpty: return .success(set)
        case .success: return .failure(PolicyErrors(diagnostics))
        case let .failure(e): return .failure(PolicyErrors(diagnostics + e.diagnostics))
        }
    }

    /// Validates already-read files (path, bytes): the pure core of `load(paths:)`.
    public static func load(contents: [(file: String, bytes: [UInt8])]) -> Result<PolicySet, PolicyErrors> {
        var diagnostics: [Diagnostic] = []
        var sessions: [MirrorSession] = []
        var byName: [String: MirrorSession] = [:]
        for (file, bytes) in contents {
            switch PolicyParser.parse(bytes: bytes, file: file, defaultName: defaultName(forFile: file)) {
            case let .failure(e): diagnostics += e.diagnostics
            case let .success(s):
                if let first = byName[s.name] {
                    diagnostics.append(Diagnostic(.error, nameLocation(of: s, bytes: bytes),
                                                  "duplicate session name '\(s.name)'",
                                                  notes: [Diagnostic(.note, nameLocation(of: first, bytes: contents.first { $0.file == first.file }?.bytes ?? []),
                                                                     "'\(s.name)' is first defined here")]))
                    continue
                }
                byName[s.name] = s
                sessions.append(s)
            }
        }
        return diagnostics.isEmpty ? .success(PolicySet(sessions)) : .failure(PolicyErrors(diagnostics))
    }

    /// Where a session's name is written: its `name:` value, or 1:1 when the name comes from the file name.
    static func nameLocation(of s: MirrorSession, bytes: [UInt8]) -> SourceLocation {
        let text = String(decoding: bytes, as: UTF8.self)
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.hasPrefix("name:") {
            let value = line.dropFirst(5)
            let lead = value.prefix { $0 == " " }.count
            return SourceLocation(file: s.file, line: i + 1, column: 6 + lead)
        }
        return SourceLocation(file: s.file, line: 1, column: 1)
    }
}
