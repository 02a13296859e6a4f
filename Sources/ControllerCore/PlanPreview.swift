import Policy

/// `sipspan plan DIR` against a running serve: the policy files sent, and what applying them would change.
public struct PlanRequest: Codable, Sendable {
    public struct File: Codable, Sendable {
        public let file: String
        public let content: String
        public init(file: String, content: String) { self.file = file; self.content = content }
    }
    public let files: [File]
    public init(files: [File]) { self.files = files }
}

/// The answer of a dry run: nothing is applied.
public struct PlanPreview: Codable, Sendable {
    public struct Bridge: Codable, Sendable {
        public let bridge: String
        public let datapathID: String
        public let added: [String]
        public let removed: [String]
        public let copiesStart: [String]
        public let copiesStop: [String]
    }
    public let valid: Bool
    /// `FILE:LINE:COLUMN: error: …` when the policy is invalid.
    public let diagnostics: [String]
    public let bridges: [Bridge]
}

extension PlanPreview {
    /// The answer for a policy that does not load: its diagnostics (with their notes), no bridges.
    public static func invalid(_ errors: PolicyErrors) -> PlanPreview {
        // One line each: the diagnostic, then its notes.
        let lines = errors.diagnostics.flatMap { [$0] + $0.notes }.map { Diagnostic($0.severity, $0.location, $0.message).description }
        return PlanPreview(valid: false, diagnostics: lines, bridges: [])
    }
}
