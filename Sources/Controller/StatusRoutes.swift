import ControllerCore
import Foundation
import Policy

/// The HTTP status codes the status endpoint answers with.
public enum HTTPStatus: Int, Sendable, CustomStringConvertible {
    case ok = 200
    case badRequest = 400
    case forbidden = 403
    case notFound = 404
    case methodNotAllowed = 405
    case payloadTooLarge = 413

    /// The status line's text: `200 OK`.
    public var description: String {
        switch self {
        case .ok: return "200 OK"
        case .badRequest: return "400 Bad Request"
        case .forbidden: return "403 Forbidden"
        case .notFound: return "404 Not Found"
        case .methodNotAllowed: return "405 Method Not Allowed"
        case .payloadTooLarge: return "413 Payload Too Large"
        }
    }
}

/// One HTTP response of the status endpoint.
public struct Response: Sendable {
    public let status: HTTPStatus
    public let contentType: String
    public let body: [UInt8]

    public init(_ status: HTTPStatus, contentType: String, body: [UInt8]) {
        self.status = status; self.contentType = contentType; self.body = body
    }

    public static func text(_ status: HTTPStatus, _ text: String) -> Response {
        Response(status, contentType: "text/plain", body: Array(text.utf8))
    }

    /// Pretty-printed JSON with sorted keys (stable for people and diffs).
    public static func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Response(.ok, contentType: "application/json", body: (try? encoder.encode(value)).map { [UInt8]($0) } ?? [])
    }
}

/// The routes of `serve --status`: `GET /status` (JSON), `GET /metrics` (Prometheus), `POST /plan`
/// (a dry run of policy files sent by `sipspan plan`; only on loopback and unix endpoints, since it
/// reveals the policy's effect).
public struct StatusRoutes: Sendable {
    public let controller: SipspanController
    /// Whether the endpoint is reachable from this machine only.
    public let isLocal: Bool

    public init(controller: SipspanController, isLocal: Bool) {
        self.controller = controller; self.isLocal = isLocal
    }

    public func respond(_ request: StatusServer.Request) -> Response {
        switch request.path {
        case "/plan" where request.method == "POST":
            guard isLocal else { return .text(.forbidden, "plan answers only on a loopback or unix status endpoint\n") }
            return plan(request.body)
        case "/status":
            return .json(controller.status())
        case "/metrics":
            return Response(.ok, contentType: "text/plain; version=0.0.4", body: controller.metricsExposition())
        default:
            return .text(.notFound, "try /status or /metrics\n")
        }
    }

    /// Loads the policy files of a `PlanRequest` and previews them against every connected bridge.
    private func plan(_ body: [UInt8]) -> Response {
        guard let request = try? JSONDecoder().decode(PlanRequest.self, from: Data(body)) else {
            return .text(.badRequest, "expected a JSON plan request\n")
        }
        switch PolicyLoader.load(contents: request.files.map { (file: $0.file, bytes: Array($0.content.utf8)) }) {
        case let .failure(errors): return .json(PlanPreview.invalid(errors))
        case let .success(set): return .json(controller.preview(set))
        }
    }
}
