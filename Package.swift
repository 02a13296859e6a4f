// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "sipspan",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sipspan", targets: ["sipspan"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // OpenFlow 1.3 codec: bytes <-> typed messages. Pure, no I/O.
        .target(name: "OpenFlow"),
        // Policy model and loader: YAML -> validated policy, FILE:LINE:COLUMN diagnostics. Pure.
        .target(name: "Policy", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The Proxmox inventory: pmxcfs files (guest configs, .vmlist, .members, user.cfg) -> guests, NICs, MACs, nodes. Pure.
        .target(name: "ProxmoxInventory", dependencies: ["OpenFlow", "Policy"]),
        // sipspan doctor's checks: a node's OVS, ifupdown2 configuration and guests -> findings with fixes. Pure.
        .target(name: "NodeDoctor", dependencies: ["Policy", "ProxmoxInventory"]),
        // Desired flows for a bridge and the reconciler's diff. Pure.
        .target(name: "FlowPlanning", dependencies: ["OpenFlow", "Policy"]),
        // The switch session as a state machine: (input, now, context) -> [actions]. Pure, no I/O.
        .target(name: "SwitchProtocol", dependencies: ["OpenFlow", "Policy", "FlowPlanning", "ProxmoxInventory", "MediaTracking", "RateLimit"]),
        // The controller's decisions as a state machine: connections, datapath ownership, reloads, policy,
        // inventory, warnings, status, preview -> [actions]. Pure, no I/O, no clock.
        .target(name: "ControllerCore", dependencies: ["OpenFlow", "Policy", "FlowPlanning", "SwitchProtocol", "ProxmoxInventory", "MediaTracking", "RateLimit"]),
        // A token bucket: the rate limits of packet-ins and of repeated log lines. Pure.
        .target(name: "RateLimit"),
        // SIP and SDP as per-call media copies need them (issue 20): messages, offers/answers, endpoints. Pure.
        .target(name: "SIPMedia"),
        // Per-call media copies on one bridge: SIP packet-ins → calls → media flows (pure).
        .target(name: "MediaTracking", dependencies: ["OpenFlow", "Policy", "FlowPlanning", "SIPMedia", "RateLimit"]),
        // OpenSSL as a system library (TLS for ssl: controllers).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Runtime: listener, per-bridge connections on Dispatch, policy watcher, status.
        .target(name: "Controller", dependencies: [
            "OpenFlow", "Policy", "FlowPlanning", "SwitchProtocol", "ProxmoxInventory", "ControllerCore", "COpenSSL",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The CLI, a thin layer.
        .executableTarget(name: "sipspan", dependencies: [
            "Controller", "ControllerCore", "Policy", "FlowPlanning", "OpenFlow", "ProxmoxInventory", "NodeDoctor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Benchmark: inventory reads per check at 100/1,000/10,000 guests (bench/inventory-reads); not shipped.
        // What the benchmarks measure with (thread CPU time, medians); not shipped.
        .target(name: "BenchSupport", path: "bench/Support"),
        .executableTarget(name: "InventoryReadsBench", dependencies: ["ProxmoxInventory", "BenchSupport"], path: "bench/InventoryReads"),
        // Benchmark: controller CPU per SIP PACKET_IN of a media NIC (bench/media-packet-ins); not shipped.
        .executableTarget(name: "MediaPacketInsBench", dependencies: ["MediaTracking", "FlowPlanning", "OpenFlow", "BenchSupport"], path: "bench/MediaPacketIns"),
        // Helpers shared by the test targets (running commands, polling); not shipped.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "OpenFlowTests", dependencies: ["OpenFlow", "TestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "TestSupport"]),
        .testTarget(name: "FlowPlanningTests", dependencies: ["FlowPlanning", "OpenFlow", "Policy"]),
        .testTarget(name: "ProxmoxInventoryTests", dependencies: ["ProxmoxInventory", "Policy", "OpenFlow", "TestSupport"]),
        .testTarget(name: "NodeDoctorTests", dependencies: ["NodeDoctor", "ProxmoxInventory", "Policy", "TestSupport"]),
        .testTarget(name: "SwitchProtocolTests", dependencies: ["SwitchProtocol", "FlowPlanning", "OpenFlow", "Policy"]),
        .testTarget(name: "ControllerCoreTests", dependencies: ["ControllerCore", "SwitchProtocol", "FlowPlanning", "OpenFlow", "Policy", "ProxmoxInventory"]),
        .testTarget(name: "SIPMediaTests", dependencies: ["SIPMedia"]),
        .testTarget(name: "MediaTrackingTests", dependencies: ["MediaTracking", "SIPMedia", "FlowPlanning", "OpenFlow", "Policy", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["OpenFlow", "TestSupport", "Controller", "ControllerCore"]),
    ]
)
