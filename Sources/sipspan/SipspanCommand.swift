import ArgumentParser

@main
struct SipspanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sipspan",
        abstract: "Copy the SIP signalling of chosen Proxmox VMs to a monitoring VM, on every Open vSwitch bridge of a cluster.",
        version: "0.1.0",
        subcommands: [Serve.self, Check.self, Plan.self, Status.self, DoctorCommand.self]
    )
}
