import ArgumentParser
import Foundation
import Policy

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate policy files; print every error as FILE:LINE:COLUMN: error: MESSAGE.")

    enum Format: String, ExpressibleByArgument { case text, json }

    @Argument(help: "Policy files and/or directories.")
    var paths: [String]

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    @Flag(name: .long, help: "Colour the output (default: only when stdout is a terminal).")
    var color = false

    func run() throws {
        let useColor = color || isatty(STDOUT_FILENO) == 1
        switch PolicyLoader.load(paths: paths) {
        case let .success(set):
            switch format {
            case .json:
                print(json(["valid": true, "sessions": set.sessions.map(sessionJSON)]))
            case .text:
                for s in set.sessions { print(s.summary) }
                print("\(set.sessions.count) session(s) valid")
            }
        case let .failure(errors):
            switch format {
            case .json:
                let all = errors.diagnostics.flatMap { [$0] + $0.notes }
                print(json(["valid": false, "diagnostics": all.map { d in
                    ["file": d.location.file, "line": d.location.line, "column": d.location.column,
                     "severity": d.severity.rawValue, "message": d.message] as [String: Any]
                }]))
            case .text:
                for d in errors.diagnostics {
                    for line in [d] + d.notes { print(render(line, color: useColor)) }
                }
            }
            throw ExitCode(1)
        }
    }

    private func render(_ d: Diagnostic, color: Bool) -> String {
        guard color else { return "\(d.location): \(d.severity.rawValue): \(d.message)" }
        let sev = d.severity == .error ? "\u{1b}[1;31merror\u{1b}[0m" : "\u{1b}[1;36mnote\u{1b}[0m"
        return "\u{1b}[1m\(d.location):\u{1b}[0m \(sev): \u{1b}[1m\(d.message)\u{1b}[0m"
    }

    private func sessionJSON(_ s: MirrorSession) -> [String: Any] {
        let watch: Any
        switch s.watch {
        case .all: watch = "all"
        case let .ports(p): watch = p.map(\.description)
        }
        return ["name": s.name, "file": s.file, "monitor": s.monitors.map(\.description), "watch": watch, "traffic": s.traffic.map(\.description)]
    }

    private func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
