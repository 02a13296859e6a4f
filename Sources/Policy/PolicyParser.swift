import Yams

/// Turns the text of one policy file into a validated `MirrorSession`, or diagnostics.
///
/// The YAML is composed to nodes (keeping each node's line and column) and walked by hand: the
/// walk only descends into the shapes the contract allows, and counts every node it visits, so an
/// alias bomb or deep nesting cannot make it run long.
public struct PolicyParser {
    /// Files larger than this are refused before parsing.
    public static let maximumFileSize = 256 << 10
    /// Nodes the walk may visit in one file (aliases count each time they are reached).
    public static let nodeBudget = 20_000

    let file: String
    private var diagnostics: [Diagnostic] = []
    private var visited = 0
    private var budgetExceeded = false

    private init(file: String) { self.file = file }

    /// Parses one file's bytes. `defaultName` is the session name when the file has no `name:`.
    public static func parse(bytes: [UInt8], file: String, defaultName: String) -> Result<MirrorSession, PolicyErrors> {
        var p = PolicyParser(file: file)
        guard let session = p.run(bytes: bytes, defaultName: defaultName), p.diagnostics.isEmpty else {
            return .failure(PolicyErrors(p.diagnostics))
        }
        return .success(session)
    }

    /// Convenience for tests and tools: parse text.
    public static func parse(text: String, file: String, defaultName: String) -> Result<MirrorSession, PolicyErrors> {
        parse(bytes: Array(text.utf8), file: file, defaultName: defaultName)
    }

    /// Errors reported per file at most; an alias repeating one mistake is reported once.
    static let maximumDiagnostics = 50

    private mutating func error(_ line: Int, _ column: Int, _ message: String) {
        report(Diagnostic(.error, SourceLocation(file: file, line: line, column: column), message))
    }

    /// The one way a diagnostic is recorded: repeats dropped, at most `maximumDiagnostics` per file.
    private mutating func report(_ d: Diagnostic) {
        guard !diagnostics.contains(d) else { return }
        if diagnostics.count == PolicyParser.maximumDiagnostics {
            diagnostics.append(Diagnostic(.error, d.location, "too many errors; stopping here"))
            return
        }
        guard diagnostics.count < PolicyParser.maximumDiagnostics else { return }
        diagnostics.append(d)
    }

    private mutating func error(at node: Node, _ message: String) {
        let m = node.mark
        error(m?.line ?? 1, m?.column ?? 1, message)
    }

    // MARK: text

    private mutating func run(bytes: [UInt8], defaultName: String) -> MirrorSession? {
        guard bytes.count <= PolicyParser.maximumFileSize else {
            error(1, 1, "file is \(bytes.count) bytes; policy files are limited to \(PolicyParser.maximumFileSize) bytes")
            return nil
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if let (line, column) = firstInvalidUTF8(body) {
            error(line, column, "file is not valid UTF-8")
            return nil
        }
        if let nul = body.firstIndex(of: 0) {
            let (line, column) = position(of: nul, in: body)
            error(line, column, "file contains a NUL byte; is this a binary file?")
            return nil
        }
        let text = String(decoding: body, as: UTF8.self)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            reportYAML(e, text: text)
            return nil
        } catch {
            self.error(1, 1, "cannot parse YAML: \(error)")
            return nil
        }
        guard let root else {
            error(1, 1, "empty policy file: expected a mapping with 'monitor' and 'watch'")
            return nil
        }
        return session(from: root, defaultName: defaultName)
    }

    private func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> (Int, Int)? {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var line = 1, column = 1
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s):
                if s == "\n" { line += 1; column = 1 } else { column += 1 }
            case .emptyInput: return nil
            case .error: return (line, column)
            }
        }
    }

    private func position(of index: ArraySlice<UInt8>.Index, in bytes: ArraySlice<UInt8>) -> (Int, Int) {
        var line = 1, column = 1
        for b in bytes[bytes.startIndex..<index] {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return (line, column)
    }

    private mutating func reportYAML(_ e: YamlError, text: String) {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            var message = "YAML syntax: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            if problem.contains("cannot start any token"), charAt(mark, in: text) == "\t" {
                message += "; YAML does not allow tabs for indentation, use spaces"
            }
            error(mark.line, mark.column, message)
        case let .duplicatedKeysInMapping(duplicates, context):
            for key in duplicates {
                let (line, column) = secondOccurrence(ofKey: key, after: context.mark.line, in: text) ?? (context.mark.line, context.mark.column)
                error(line, column, "duplicate key '\(key)'")
            }
        case let .reader(problem, offset, _, _):
            let (line, column) = offset.map { lineColumn(ofOffset: $0, in: text) } ?? (1, 1)
            error(line, column, "cannot read file: \(problem)")
        default:
            error(1, 1, "cannot parse YAML: \(e)")
        }
    }

    private func charAt(_ mark: Mark, in text: String) -> Character? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let l = lines[mark.line - 1].unicodeScalars
        guard mark.column >= 1, mark.column <= l.count else { return nil }
        return Character(l[l.index(l.startIndex, offsetBy: mark.column - 1)])
    }

    private func lineColumn(ofOffset offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for (i, s) in text.unicodeScalars.enumerated() {
            if i >= offset { break }
            if s == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    /// Yams reports a duplicate key at its mapping; find the key's second spelling at or after that line.
    private func secondOccurrence(ofKey key: String, after line: Int, in text: String) -> (Int, Int)? {
        var seen = 0
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where i + 1 >= line {
            let l = String(raw)
            var body = Substring(l)
            var column = 1
            while let f = body.first, f == " " || f == "-" { body = body.dropFirst(); column += 1 }
            for quote in ["", "\"", "'"] {
                let spelled = quote + key + quote
                if body.hasPrefix(spelled), body.dropFirst(spelled.count).drop(while: { $0 == " " }).first == ":" {
                    seen += 1
                    if seen == 2 { return (i + 1, column) }
                }
            }
        }
        return nil
    }

    // MARK: structure

    /// Visits a node against the budget; false once the budget is spent (reported once).
    private mutating func visit(_ node: Node) -> Bool {
        visited += 1
        if visited > PolicyParser.nodeBudget {
            if !budgetExceeded {
                budgetExceeded = true
                error(at: node, "policy is too large: more than \(PolicyParser.nodeBudget) YAML nodes (aliases are counted each time they are used)")
            }
            return false
        }
        return true
    }

    private static let topKeys = ["name", "monitor", "watch", "traffic", "media"]

    private mutating func session(from root: Node, defaultName: String) -> MirrorSession? {
        guard visit(root) else { return nil }
        guard case let .mapping(map) = root else {
            error(at: root, "expected a mapping with 'monitor' and 'watch', found \(describe(root))")
            return nil
        }
        var name: String? = nil, monitors: [PortSelector]? = nil, watch: WatchSet? = nil, traffic: [TrafficClass]? = nil
        var media: MediaCopy? = nil
        var monitorNode: Node? = nil, watchKeyNode: Node? = nil, monitorKeyNode: Node? = nil
        for (k, v) in map {
            guard visit(k), let key = scalarString(k) else {
                error(at: k, "expected a key name, found \(describe(k))")
                continue
            }
            switch key {
            case "name": name = sessionName(v)
            case "monitor": monitorKeyNode = k; monitorNode = v; monitors = selectorList(v, role: "monitor")
            case "watch": watchKeyNode = k; watch = watchSet(v)
            case "traffic": traffic = trafficList(v)
            case "media": media = mediaCopy(v)
            default: unknownKey(k, key, among: PolicyParser.topKeys)
            }
        }
        if monitorKeyNode == nil { error(at: root, "missing required key 'monitor' (the NICs that receive copies)") }
        if watchKeyNode == nil { error(at: root, "missing required key 'watch' (a list of VMs/ports, or 'all')") }
        if let monitors, monitors.isEmpty, collectors.isEmpty, let monitorNode {
            error(at: monitorNode, "'monitor' must name at least one NIC or collector")
        }
        if let monitors, case let .ports(watched)? = watch {
            for m in monitors where watched.contains(m) {
                if let node = monitorNode { error(at: node, "\(m) is both a monitor and watched; a monitor NIC cannot be watched") }
            }
        }
        let sessionName = name ?? defaultName
        var seen = Set<Collector>()
        var resolvedCollectors: [Collector] = []
        for c in collectors {
            let collector = Collector(address: c.address, tunnel: c.tunnel, sessionID: c.sessionID ?? Collector.defaultSessionID(for: sessionName))
            guard seen.insert(collector).inserted else { error(at: c.node, "duplicate monitor entry \(collector)"); continue }
            resolvedCollectors.append(collector)
        }
        guard diagnostics.isEmpty, let monitors, let watch else { return nil }
        return MirrorSession(name: sessionName, file: file, monitors: monitors, watch: watch, traffic: traffic ?? [.sipUDP],
                             collectors: resolvedCollectors, media: media ?? .none, locations: locations)
    }

    /// `media: none | rtcp | rtp`.
    private mutating func mediaCopy(_ v: Node) -> MediaCopy? {
        guard visit(v) else { return nil }
        let choices = MediaCopy.allCases.map(\.rawValue)
        guard case let .scalar(s) = v, let m = MediaCopy(rawValue: s.string) else {
            var message = "'media' must be one of \(choices.joined(separator: ", ")), found \(describe(v))"
            if case let .scalar(s) = v, let near = suggestion(for: s.string.lowercased(), among: choices) { message += "; did you mean '\(near)'?" }
            error(at: v, message)
            return nil
        }
        return m
    }

    private mutating func unknownKey(_ node: Node, _ key: String, among keys: [String]) {
        var message = "unknown key '\(key)'"
        if let s = suggestion(for: key, among: keys) { message += "; did you mean '\(s)'?" }
        else { message += " (expected one of: \(keys.joined(separator: ", ")))" }
        error(at: node, message)
    }

    private mutating func sessionName(_ v: Node) -> String? {
        guard visit(v) else { return nil }
        guard let s = scalarString(v), !s.isEmpty else {
            error(at: v, "'name' must be a string, found \(describe(v))"); return nil
        }
        let allowed = s.count <= 64 && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
        guard allowed else {
            error(at: v, "invalid session name '\(s.prefix(80))': use at most 64 letters, digits, '.', '_' or '-'"); return nil
        }
        return s
    }

    private mutating func watchSet(_ v: Node) -> WatchSet? {
        guard visit(v) else { return nil }
        if case let .scalar(s) = v {
            if s.style == .plain && (s.string == "~" || s.string == "null" || s.string.isEmpty) { return .ports([]) }
            if s.string == "all" { return .all }
            var message = "'watch' must be a list of VMs/ports or 'all', found \(describe(v))"
            if s.string.lowercased() == "all" || editDistance(s.string, "all") == 1 { message += "; did you mean 'all'?" }
            error(at: v, message)
            return nil
        }
        guard let list = selectorList(v, role: "watch") else { return nil }
        return .ports(list)
    }

    private static let entryKeys = ["vm", "nic", "port", "tag", "pool"]
    /// Where each selector was written, for warnings about what it names.
    private var locations: [PortSelector: SourceLocation] = [:]
    /// `collector:` entries of the monitor list (session id nil: derived from the session name).
    private var collectors: [(address: [UInt8], tunnel: String, sessionID: UInt32?, node: Node)] = []
    private static let collectorKeys = ["collector", "tunnel", "session_id"]

    private mutating func selectorList(_ v: Node, role: String) -> [PortSelector]? {
        guard visit(v) else { return nil }
        guard case let .sequence(seq) = v else {
            if case let .scalar(s) = v, s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
                return []
            }
            error(at: v, "'\(role)' must be a list of entries like '- vm: 101', found \(describe(v))")
            return nil
        }
        var result: [PortSelector] = []
        var firstSeen: [PortSelector: Node] = [:]
        var ok = true
        for item in seq {
            if role == "monitor", case let .mapping(map) = item, map.contains(where: { scalarString($0.key) == "collector" }) {
                if !collector(map, item: item) { ok = false }
                continue
            }
            guard let sel = selector(item, role: role) else { ok = false; continue }
            if let first = firstSeen[sel] {
                let fm = first.mark
                report(Diagnostic(.error, location(item), "duplicate \(role) entry \(sel)",
                                  notes: [Diagnostic(.note, SourceLocation(file: file, line: fm?.line ?? 1, column: fm?.column ?? 1), "first listed here")]))
                ok = false
                continue
            }
            firstSeen[sel] = item
            locations[sel] = locations[sel] ?? location(item)
            result.append(sel)
            if budgetExceeded { return nil }
        }
        return ok ? result : nil
    }

    private func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    /// `- collector: 192.0.2.50` with optional `tunnel: sipspan0` and `session_id: N` (1..16777215;
    /// ERSPAN uses the low 10 bits, so 1..1023 there).
    private mutating func collector(_ map: Node.Mapping, item: Node) -> Bool {
        var address: [UInt8]? = nil, tunnel = Collector.defaultTunnel, sessionID: UInt32? = nil
        var ok = true
        for (k, v) in map {
            guard visit(k), visit(v), let key = scalarString(k) else { error(at: k, "expected a key name, found \(describe(k))"); ok = false; continue }
            switch key {
            case "collector":
                guard let text = scalarString(v) else { error(at: v, "'collector' must be an IPv4 address, found \(describe(v))"); ok = false; continue }
                if text.contains(":") {
                    error(at: v, "IPv6 collectors are not supported yet: give the collector's IPv4 address"); ok = false; continue
                }
                let parts = text.split(separator: ".", omittingEmptySubsequences: false)
                let bytes = parts.compactMap { p -> UInt8? in p.count <= 3 && p.allSatisfy(\.isASCIIDigit) ? UInt8(p) : nil }
                guard parts.count == 4, bytes.count == 4 else { error(at: v, "invalid IPv4 address '\(text.prefix(60))'"); ok = false; continue }
                guard bytes[0] != 0, bytes[0] != 127, bytes[0] < 224, bytes != [255, 255, 255, 255] else {
                    error(at: v, "\(text) cannot be a collector (unspecified, loopback, multicast or broadcast)"); ok = false; continue
                }
                address = bytes
            case "tunnel":
                guard let p = portName(v) else { ok = false; continue }
                tunnel = p
            case "session_id":
                guard let n = integer(v, what: "a session id (ERSPAN 1..1023, VXLAN VNI up to 16777215)", range: 1...16_777_215) else { ok = false; continue }
                sessionID = UInt32(n)
            default:
                unknownKey(k, key, among: PolicyParser.collectorKeys); ok = false
            }
        }
        guard ok, let address else { return false }
        collectors.append((address, tunnel, sessionID, item))
        return true
    }

    /// A Proxmox tag (letters, digits, `_ - + .`) or pool name (letters, digits, `_ -`), up to 128 characters.
    private mutating func groupName(_ v: Node, key: String) -> String? {
        guard let s = scalarString(v), !s.isEmpty else {
            error(at: v, "'\(key)' must be a \(key) name, found \(describe(v))"); return nil
        }
        let allowed: Set<Character> = key == "tag" ? ["_", "-", "+", "."] : ["_", "-"]
        guard s.count <= 128, s.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || allowed.contains($0) }) else {
            error(at: v, "invalid \(key) name '\(s.prefix(80))' (Proxmox \(key)s use letters, digits and \(allowed.sorted().map { "'\($0)'" }.joined(separator: " ")))")
            return nil
        }
        // Proxmox compares tags case-insensitively and stores them in lower case.
        return key == "tag" ? s.lowercased() : s
    }

    private mutating func selector(_ item: Node, role: String) -> PortSelector? {
        guard visit(item) else { return nil }
        guard case let .mapping(map) = item else {
            var message = "each '\(role)' entry must be a mapping like 'vm: 101' or 'port: tap101i0', found \(describe(item))"
            if let s = scalarString(item), UInt32(s) != nil { message += "; write '- vm: \(s)'" }
            error(at: item, message)
            return nil
        }
        var vm: UInt32? = nil, nic: UInt8? = nil, port: String? = nil, group: (key: String, name: String)? = nil
        var vmNode: Node? = nil, nicNode: Node? = nil, portNode: Node? = nil, groupNode: Node? = nil
        var ok = true
        for (k, v) in map {
            guard visit(k), visit(v), let key = scalarString(k) else {
                error(at: k, "expected a key name, found \(describe(k))"); ok = false; continue
            }
            switch key {
            case "vm":
                vmNode = k
                guard let n = integer(v, what: "a VM id", range: 100...999_999_999) else { ok = false; continue }
                vm = UInt32(n)
            case "nic":
                nicNode = k
                guard let n = integer(v, what: "a NIC number", range: 0...31) else { ok = false; continue }
                nic = UInt8(n)
            case "port":
                portNode = k
                guard let p = portName(v) else { ok = false; continue }
                port = p
            case "tag", "pool":
                guard groupNode == nil else { error(at: k, "an entry names one of 'tag' or 'pool', not both"); ok = false; continue }
                groupNode = k
                guard let name = groupName(v, key: key) else { ok = false; continue }
                group = (key, name)
            default:
                unknownKey(k, key, among: PolicyParser.entryKeys); ok = false
            }
        }
        if portNode != nil, let other = vmNode ?? nicNode ?? groupNode {
            error(at: other, "an entry names either 'port' or 'vm'/'tag'/'pool' (with an optional 'nic'), not both"); return nil
        }
        if vmNode != nil, let g = groupNode {
            error(at: g, "an entry names one of 'vm', 'tag' or 'pool', not several"); return nil
        }
        guard ok else { return nil }
        if let port { return .port(port) }
        if let group {
            if role == "monitor" && nic == nil {
                error(at: groupNode ?? item, "a monitor entry needs 'nic' (the monitoring VMs' NIC that receives copies)"); return nil
            }
            return group.key == "tag" ? .tag(group.name, nic: nic) : .pool(group.name, nic: nic)
        }
        if let vm {
            if role == "monitor" && nic == nil {
                error(at: vmNode ?? item, "a monitor entry needs 'nic' (the monitoring VM's NIC that receives copies)"); return nil
            }
            return .vm(vm, nic: nic)
        }
        if nicNode != nil { error(at: nicNode ?? item, "'nic' needs a 'vm', 'tag' or 'pool' in the same entry"); return nil }
        error(at: item, "an entry needs 'vm', 'tag', 'pool' or 'port'")
        return nil
    }

    private mutating func integer(_ v: Node, what: String, range: ClosedRange<Int>) -> Int? {
        guard case let .scalar(s) = v else {
            error(at: v, "expected \(what) (\(range.lowerBound)..\(range.upperBound)), found \(describe(v))"); return nil
        }
        guard s.style == .plain, !s.string.isEmpty, s.string.count <= 20, s.string.allSatisfy(\.isASCIIDigit), let n = Int(s.string) else {
            error(at: v, "expected \(what) (\(range.lowerBound)..\(range.upperBound)), found \(describe(v))"); return nil
        }
        guard range.contains(n) else {
            error(at: v, "\(what) must be in \(range.lowerBound)..\(range.upperBound), found \(s.string)"); return nil
        }
        return n
    }

    private mutating func portName(_ v: Node) -> String? {
        guard let s = scalarString(v) else {
            error(at: v, "expected an OVS port name, found \(describe(v))"); return nil
        }
        let valid = !s.isEmpty && s.utf8.count <= 15 && s.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7f && $0 != "/" }
        guard valid else {
            error(at: v, "invalid port name '\(s.prefix(80))': OVS port names are 1 to 15 printable characters without '/' or spaces"); return nil
        }
        return s
    }

    private mutating func trafficList(_ v: Node) -> [TrafficClass]? {
        guard visit(v) else { return nil }
        guard case let .sequence(seq) = v else {
            error(at: v, "'traffic' must be a list like '- udp/5060', found \(describe(v))"); return nil
        }
        guard seq.count > 0 else { error(at: v, "'traffic' is empty; leave it out for the default udp/5060"); return nil }
        var result: [TrafficClass] = []
        var firstSeen: [TrafficClass: Node] = [:]
        var ok = true
        for item in seq {
            guard visit(item) else { return nil }
            guard let tc = trafficClass(item) else { ok = false; continue }
            if let first = firstSeen[tc] {
                report(Diagnostic(.error, location(item), "duplicate traffic entry \(tc)",
                                  notes: [Diagnostic(.note, location(first), "first listed here")]))
                ok = false; continue
            }
            firstSeen[tc] = item
            result.append(tc)
        }
        return ok ? result : nil
    }

    private mutating func trafficClass(_ item: Node) -> TrafficClass? {
        guard let s = scalarString(item) else {
            error(at: item, "expected a traffic entry like 'udp/5060', found \(describe(item))"); return nil
        }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            error(at: item, "expected PROTOCOL/PORT like 'udp/5060', found '\(s.prefix(80))'"); return nil
        }
        guard let proto = TrafficClass.L4(rawValue: String(parts[0])) else {
            var message = "unknown protocol '\(parts[0].prefix(40))': expected udp or tcp"
            if let sug = suggestion(for: String(parts[0]), among: ["udp", "tcp"]) { message += "; did you mean '\(sug)'?" }
            error(at: item, message); return nil
        }
        let bounds = parts[1].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        var ports: [UInt16] = []
        for b in bounds {
            guard b.count <= 5, !b.isEmpty, b.allSatisfy(\.isASCIIDigit), let port = Int(b), (1...65535).contains(port) else {
                error(at: item, "port must be in 1..65535, found '\(parts[1].prefix(40))' (a range is written 5060-5090)"); return nil
            }
            ports.append(UInt16(port))
        }
        if ports.count == 2 {
            guard ports[0] <= ports[1] else { error(at: item, "port range \(ports[0])-\(ports[1]) starts after it ends"); return nil }
            return TrafficClass(proto, ports[0], ports[1])
        }
        return TrafficClass(proto, ports[0])
    }

    /// A scalar's text, nil for mappings, sequences and aliases.
    private func scalarString(_ n: Node) -> String? {
        if case let .scalar(s) = n { return s.string }
        return nil
    }

    private func describe(_ n: Node) -> String {
        switch n {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(s):
            let text = s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string
            if s.style != .plain { return "string '\(text)'" }
            if s.string.isEmpty || s.string == "~" || s.string == "null" { return "nothing" }
            if Int(s.string) != nil { return "number \(text)" }
            return "'\(text)'"
        }
    }
}
