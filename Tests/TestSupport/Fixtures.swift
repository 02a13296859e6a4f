/// Files in the formats Proxmox writes them, shared by the test targets.
public enum Fixtures {
    /// A node's /etc/network/interfaces as the Proxmox UI writes it for an OVS bridge on a bond, with
    /// the deploy guide's two ovs_extra lines, and a Linux bridge vmbr1.
    public static let interfaces = """
        auto lo
        iface lo inet loopback

        auto bond0
        iface bond0 inet manual
        \tovs_bonds eno1 eno2
        \tovs_type OVSBond
        \tovs_bridge vmbr0
        \tovs_options bond_mode=active-backup

        auto vmbr0
        iface vmbr0 inet static
        \taddress 192.0.2.11/24
        \tgateway 192.0.2.1
        \tovs_type OVSBridge
        \tovs_ports bond0
        \tovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock
        \tovs_extra set bridge vmbr0 fail-mode=standalone protocols=OpenFlow10,OpenFlow13

        auto vmbr1
        iface vmbr1 inet manual
        \tbridge-ports none

        """
}
