#!/usr/bin/env python3
"""After ovs-vswitchd restarts (boot, package upgrade), how long until the bridge forwards and copies again?

Per-node mode (sipspan on the node, `unix:` socket) against a bridge whose controller is unreachable
(the central controller reached through the very bridge it controls, or simply down): OVS drops
everything until a controller programs the bridge, or until it fails open.

Method: a private ovs-vswitchd (dummy datapath) with vmbr0 (a watched VM port, a monitor on VLAN 4094,
an uplink with tx_pcap). ovs-vswitchd is killed and started again; from the moment it is up, one SIP
frame is injected every 20 ms, each with its sequence number as UDP source port (no polling of
ovs-ofctl while measuring). Afterwards the uplink's and the monitor's pcaps say which frame was the
first forwarded / copied: its send time minus the start time is the figure. Loopback only; every
process started here is stopped by PID.
"""
import os, signal, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import pcapfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIPSPAN = os.environ.get("SIPSPAN", os.path.join(ROOT, ".build/release/sipspan"))


def sh(*args, env=None, check=True):
    r = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(args)[:200]} failed: {r.stderr[-1000:]}")
    return r.stdout


def sports(path):
    """UDP source ports of the frames in a pcap (the injected sequence numbers)."""
    out = []
    for _, frame in pcapfile.frames(path):
        if len(frame) >= 14 + 20 + 8 and frame[12:14] == b"\x08\x00" and frame[14 + 9] == 17:
            ihl = (frame[14] & 0x0F) * 4
            out.append(struct.unpack(">H", frame[14 + ihl:14 + ihl + 2])[0])
    return out


def run(mode, seconds):
    d = tempfile.mkdtemp(prefix="sipspan-restart-")
    env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
    db = f"unix:{d}/db.sock"
    sh("ovsdb-tool", "create", f"{d}/conf.db", "/usr/share/openvswitch/vswitch.ovsschema", env=env)
    sh("ovsdb-server", f"--remote=punix:{d}/db.sock", f"--pidfile={d}/ovsdb-server.pid", "--detach", f"--log-file={d}/ovsdb.log", f"{d}/conf.db", env=env)
    vsctl = ["ovs-vsctl", f"--db={db}", "--timeout=10"]
    sh(*vsctl, "--no-wait", "init", env=env)
    pol = f"{d}/policies"; os.makedirs(pol)
    open(f"{pol}/p.yaml", "w").write("monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")

    def start_vswitchd():
        sh("ovs-vswitchd", db, f"--pidfile={d}/ovs-vswitchd.pid", "--detach", f"--log-file={d}/vswitchd.log", "--enable-dummy=override", "--disable-system", env=env)
        return int(open(f"{d}/ovs-vswitchd.pid").read())

    pid = start_vswitchd()
    sock = f"{d}/sipspan.sock"
    sipspan = None
    if mode == "per-node":
        sipspan = subprocess.Popen([SIPSPAN, "serve", "--policy", pol, "--listen", f"unix:{sock}", "--status", "off", "--pve", "none"],
                                   stdout=open(f"{d}/sipspan.log", "w"), stderr=subprocess.STDOUT)
        time.sleep(0.3)
    sh(*vsctl, "add-br", "vmbr0", "--", "set", "bridge", "vmbr0", "datapath_type=dummy", "fail-mode=standalone", "protocols=OpenFlow10,OpenFlow13",
       "--", "add-port", "vmbr0", "tap101i0", "--", "set", "interface", "tap101i0", "type=dummy", "ofport_request=1",
       "--", "add-port", "vmbr0", "tap900i1", "tag=4094", "--", "set", "interface", "tap900i1", "type=dummy", "ofport_request=3", f"options:tx_pcap={d}/mon.pcap",
       "--", "add-port", "vmbr0", "bond0", "--", "set", "interface", "bond0", "type=dummy", "ofport_request=4", f"options:tx_pcap={d}/up.pcap",
       "--", "set-controller", "vmbr0", f"unix:{sock}", env=env)
    time.sleep(1.0 if mode == "per-node" else 0.2)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    for f in ("mon.pcap", "up.pcap"):
        if os.path.exists(f"{d}/{f}"): os.remove(f"{d}/{f}")
    t0 = time.monotonic()
    pid = start_vswitchd()
    ctl = f"{d}/ovs-vswitchd.{pid}.ctl"
    sent = {}
    seq = 1
    while time.monotonic() - t0 < seconds:
        flow = ("in_port(1),eth(src=bc:24:11:00:01:01,dst=bc:24:11:00:0f:0f),eth_type(0x0800),"
                f"ipv4(src=10.9.0.101,dst=10.9.0.250,proto=17,tos=0,ttl=64,frag=no),udp(src={seq},dst=5060)")
        sent[seq] = time.monotonic() - t0
        subprocess.run(["ovs-appctl", "-t", ctl, "netdev-dummy/receive", "tap101i0", flow], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seq += 1
        time.sleep(0.02)
    up, mon = sports(f"{d}/up.pcap"), sports(f"{d}/mon.pcap")
    forwarded = sent[min(up)] if up else None
    copied = sent[min(mon)] if mon else None
    if sipspan: sipspan.send_signal(signal.SIGTERM); sipspan.wait(5)
    for p in (pid, int(open(f"{d}/ovsdb-server.pid").read())):
        try: os.kill(p, signal.SIGTERM)
        except ProcessLookupError: pass
    subprocess.run(["rm", "-rf", d])
    return forwarded, copied


def fmt(v):
    return "never" if v is None else f"{v:.3f} s"


if __name__ == "__main__":
    runs = int(os.environ.get("RUNS", "3"))
    print("ovs-vswitchd restart -> first frame forwarded / first SIP copy (median of %d runs)" % runs)
    for mode, seconds in (("per-node", 3), ("unreachable", 20)):
        res = [run(mode, seconds) for _ in range(runs)]
        fw = sorted(r[0] if r[0] is not None else 99 for r in res)
        cp = sorted(r[1] if r[1] is not None else 99 for r in res)
        label = "per-node sipspan (unix socket)" if mode == "per-node" else "controller unreachable (central, in-band)"
        print(f"  {label:44s} forwarding {fmt(fw[len(fw)//2])} ({fmt(fw[0])}..{fmt(fw[-1])}), copies {fmt(cp[len(cp)//2]) if cp[-1] < 99 else 'never'}")
