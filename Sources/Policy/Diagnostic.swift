/// A position in a policy file (1-based line and column).
public struct SourceLocation: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One compiler-style message about a policy file: `FILE:LINE:COLUMN: error: MESSAGE`.
public struct Diagnostic: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning, note }

    public let severity: Severity
    public let location: SourceLocation
    public let message: String
    /// Follow-up notes printed right after this diagnostic (e.g. "first defined here").
    public let notes: [Diagnostic]

    public init(_ severity: Severity = .error, _ location: SourceLocation, _ message: String, notes: [Diagnostic] = []) {
        self.severity = severity; self.location = location; self.message = message; self.notes = notes
    }

    public static func < (a: Diagnostic, b: Diagnostic) -> Bool {
        if a.location != b.location { return a.location < b.location }
        return a.message < b.message
    }

    /// The diagnostic and its notes, one per line, without colour.
    public var description: String {
        ([line] + notes.map(\.line)).joined(separator: "\n")
    }

    var line: String { "\(location): \(severity.rawValue): \(message)" }
}

/// The diagnostics of a failed load, sorted by file and position.
public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics.sorted() }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
