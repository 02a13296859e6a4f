/// One problem `sipspan doctor` found, and the exact line that fixes it.
public struct Finding: Hashable, Codable, Sendable, CustomStringConvertible {
    /// What it concerns: `vmbr0`, `port bond0`, `VM 900 net1`, `/etc/network/interfaces`.
    public let subject: String
    public let problem: String
    /// The line to type or to put in a file (with where, when it is a file).
    public let fix: String

    public init(_ subject: String, _ problem: String, fix: String) { self.subject = subject; self.problem = problem; self.fix = fix }

    public var description: String { "\(subject): \(problem)\n    fix: \(fix)" }
}
