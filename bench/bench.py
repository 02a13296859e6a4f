#!/usr/bin/env python3
"""sipspan benchmark: N emulated Proxmox nodes (OVS bridges) on one private ovs-vswitchd (dummy
datapath), all pointed at one `sipspan serve`. Prints, per N, the median (min..max) over several runs of:

  connect     time from `set-controller` on all N bridges (one ovs-vsctl transaction per 100 bridges)
              until the last bridge connected (OVS's own floor: its log line "<bridge><->tcp:...: connected")
  confirmed   time until the last bridge was barrier-confirmed with its complete flow set (sipspan's log)
  ratio       confirmed / connect
  p50 / p99   per-bridge latency from OVS's "connected" log line to sipspan's "bridge confirmed" line
  in_p99      the same measured inside sipspan (accept to barrier reply), p99
  edit        a policy edit that changes every bridge: sipspan's detect->last-barrier time
  restart     after a sipspan restart with the policy unchanged: flow_mods sent per bridge
  RSS         sipspan's peak resident memory (VmHWM) and growth per bridge; CPU seconds used

Only loopback is used; the OVS instance and sipspan are started here and stopped by PID.
"""
import argparse, datetime, os, re, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*args, env=None, check=True):
    r = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        cmd = " ".join(args)
        sys.exit(f"bench: {cmd[:300]}{'...' if len(cmd) > 300 else ''} failed: {r.stderr[-2000:]}")
    return r.stdout


def ts(text):
    """Seconds since the epoch from an ISO-8601 UTC timestamp with milliseconds."""
    return datetime.datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OVS:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sipspan-bench.")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir, OVS_DBDIR=self.dir)
        d = self.dir
        sh("ovsdb-tool", "create", f"{d}/conf.db", "/usr/share/openvswitch/vswitch.ovsschema", env=self.env)
        sh("ovsdb-server", f"--remote=punix:{d}/db.sock", f"--pidfile={d}/ovsdb-server.pid", "--detach",
           f"--log-file={d}/ovsdb.log", f"{d}/conf.db", env=self.env)
        self.vsctl("--no-wait", "init")
        sh("ovs-vswitchd", f"unix:{d}/db.sock", f"--pidfile={d}/ovs-vswitchd.pid", "--detach", f"--log-file={d}/vswitchd.log",
           "--enable-dummy=override", "--disable-system", env=self.env)

    def vsctl(self, *args):
        return sh("ovs-vsctl", f"--db=unix:{self.dir}/db.sock", "--timeout=120", *args, env=self.env)

    def stop(self):
        for name in ("ovs-vswitchd", "ovsdb-server"):
            try:
                with open(f"{self.dir}/{name}.pid") as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["rm", "-rf", self.dir])


def node_ports(i):
    """Port names of emulated node i: 3 VMs, a monitor on VLAN 4094, an uplink."""
    base = 10000 + i * 10
    return [f"tap{base + 1}i0", f"tap{base + 2}i0", f"tap{base + 3}i0"], f"tap{900000 + i}i1", f"bond{i}"


def policy_text(n, watched_per_node):
    lines = ["name: bench", "monitor:"]
    for i in range(n):
        lines += [f"  - vm: {900000 + i}", "    nic: 1"]
    lines.append("watch:")
    for i in range(n):
        for k in range(1, watched_per_node + 1):
            lines.append(f"  - vm: {10000 + i * 10 + k}")
    return "\n".join(lines) + "\n"


class Sipspan:
    def __init__(self, binary, policy_dir, log, port):
        self.log = log
        self.proc = subprocess.Popen([binary, "serve", "--policy", policy_dir, "--listen", f"127.0.0.1:{port}"],
                                     stdout=open(log, "a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_for(lambda lines: any("listening" in l for l in lines), 10)

    def lines(self):
        with open(self.log) as f:
            return f.read().splitlines()

    def wait_for(self, cond, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond(self.lines()):
                return True
            if self.proc.poll() is not None:
                sys.exit("bench: sipspan exited:\n" + "\n".join(self.lines()[-20:]))
            time.sleep(0.005)
        sys.exit("bench: timed out; sipspan log tail:\n" + "\n".join(self.lines()[-20:]))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def chunks(args, size):
    """Splits a list of `--`-separated ovs-vsctl commands into transactions of about `size` words,
    each starting with `--`."""
    out, cur = [], []
    for a in args:
        if a == "--" and len(cur) >= size:
            out.append(cur)
            cur = []
        cur.append(a)
    if cur:
        out.append(cur)
    return out


def field(line, key):
    m = re.search(rf"\b{key}=(\S+)", line)
    return m.group(1) if m else None


def one_run(n, binary, port):
    ovs = OVS()
    try:
        args = []
        for i in range(n):
            vms, mon, up = node_ports(i)
            br = f"br{i}"
            args += ["--", "add-br", br, "--", "set", "bridge", br, "datapath_type=dummy", "protocols=OpenFlow13",
                     "fail-mode=standalone", f"other-config:datapath-id={i + 1:016x}"]
            for k, p in enumerate(vms + [mon, up]):
                args += ["--", "add-port", br, p] + (["tag=4094"] if p == mon else [])
                args += ["--", "set", "interface", p, "type=dummy", f"ofport_request={k + 1}"]
        # One ovs-vsctl transaction per 100 bridges: ovs-vsctl's own work grows with the square of a
        # transaction's size (1,000 bridges in one took over 110 s of its CPU), which is not what we measure.
        t = time.time()
        for chunk in chunks(args, 100 * 62):  # about 62 words per bridge
            ovs.vsctl(*chunk[1:])
        create_s = time.time() - t

        pdir = os.path.join(ovs.dir, "policies")
        os.mkdir(pdir)
        with open(os.path.join(pdir, "bench.yaml"), "w") as f:
            f.write(policy_text(n, 2))
        log = os.path.join(ovs.dir, "sipspan.log")
        s = Sipspan(binary, pdir, log, port)
        rss_base = proc_status(s.proc.pid, "VmRSS")
        cpu0 = cpu_seconds(s.proc.pid)

        ctl = []
        for i in range(n):
            ctl += ["--", "set-controller", f"br{i}", f"tcp:127.0.0.1:{port}"]
        t0 = time.time()
        for chunk in chunks(ctl, 100 * 4):
            ovs.vsctl(*chunk[1:])
        s.wait_for(lambda lines: sum("bridge confirmed" in l for l in lines) >= n, 120)
        confirmed = [l for l in s.lines() if "bridge confirmed" in l]
        confirmed_at = {field(l, "bridge"): ts(l.split()[0]) for l in confirmed}
        t_confirmed = max(confirmed_at.values()) - t0
        inside = sorted(float(field(l, "connect_to_confirmed_ms")) for l in confirmed)
        connected_at = {}
        with open(os.path.join(ovs.dir, "vswitchd.log")) as f:
            for l in f:
                m = re.search(r"\|([^|\s]+)<->tcp:127\.0\.0\.1:\d+: connected", l)
                if m:
                    connected_at[m.group(1)] = ts(l.split("|")[0])
        t_connect = max(connected_at.values()) - t0
        latencies = sorted((confirmed_at[b] - connected_at[b]) * 1000 for b in connected_at if b in confirmed_at)
        rss_all = proc_status(s.proc.pid, "VmRSS")

        # An edit that changes every bridge: watch the third VM of every node too.
        before = len([l for l in s.lines() if "policy applied" in l])
        with open(os.path.join(pdir, "bench.yaml"), "w") as f:
            f.write(policy_text(n, 3))
        s.wait_for(lambda lines: len([l for l in lines if "policy applied" in l]) > before, 60)
        applied = [l for l in s.lines() if "policy applied" in l][-1]
        edit_ms = float(field(applied, "ms"))
        assert field(applied, "bridges") == str(n), applied
        hwm = proc_status(s.proc.pid, "VmHWM")
        cpu = cpu_seconds(s.proc.pid) - cpu0
        s.stop()

        # Restart with the policy unchanged: what does the new instance send?
        s2 = Sipspan(binary, pdir, log + ".2", port)
        s2.wait_for(lambda lines: sum("bridge confirmed" in l for l in lines) >= n, 120)
        mods = [int(field(l, "flow_mods")) for l in s2.lines() if "bridge confirmed" in l]
        s2.stop()
        return {
            "create": create_s, "connect": t_connect, "confirmed": t_confirmed, "ratio": t_confirmed / t_connect if t_connect > 0 else 0,
            "p50": latencies[len(latencies) // 2], "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "in_p99": inside[min(len(inside) - 1, int(len(inside) * 0.99))],
            "edit": edit_ms, "restart_mods": sum(mods) / n, "hwm_mib": hwm / 1024,
            "per_bridge_kib": (rss_all - rss_base) / n, "cpu": cpu,
        }
    finally:
        ovs.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/sipspan"))
    ap.add_argument("--port", type=int, default=16653)
    a = ap.parse_args()
    cols = [("connect", "s", 3), ("confirmed", "s", 3), ("ratio", "", 2), ("p50", "ms", 1), ("p99", "ms", 1), ("in_p99", "ms", 1),
            ("edit", "ms", 1), ("restart_mods", "", 1), ("hwm_mib", "MiB", 1), ("per_bridge_kib", "KiB", 1), ("cpu", "s", 2)]
    print(f"sipspan bench on {os.cpu_count()} cores, {sh('uname', '-srm').strip()}, OVS {sh('ovs-vswitchd', '--version').split()[3]}; "
          f"median (min..max) of {a.runs} runs", flush=True)
    header = "| bridges | " + " | ".join(f"{c} {u}".strip() for c, u, _ in cols) + " |"
    print(header)
    print("|" + "---|" * (len(cols) + 1))
    for n in [int(x) for x in a.sizes.split(",")]:
        runs = [one_run(n, a.binary, a.port) for _ in range(a.runs)]
        cells = []
        for c, _, d in cols:
            v = [r[c] for r in runs]
            cells.append(f"{statistics.median(v):.{d}f} ({min(v):.{d}f}..{max(v):.{d}f})")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
