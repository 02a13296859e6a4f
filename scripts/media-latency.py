#!/usr/bin/env python3
"""Call setup to media flows, per call: from the copy of the SIP message that completed a call's
offer/answer (the 200 OK to the INVITE, as the monitor captured it) to sipspan sending the call's
media flows (its 'media copies started' debug line). Read after the run, from files only.

  media-latency.py MONITOR.pcap SIPSPAN.log [OFCHANNEL.pcap]   ->  JSON: calls matched, p50/p99/max in ms

With a capture of the OpenFlow channel (sip-lab --of-capture) the figure is also split in two: the
monitor's copy of the 200 OK to its PACKET_IN on the channel (ovs-vswitchd's part) and that PACKET_IN
to sipspan's line (sipspan's part, which includes reading the socket).
"""
import datetime, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapfile


def oks_to_invite(p, window=None, sdp=False):
    """Call-IDs of the 200 OKs to an INVITE in `p` (a frame, or a TCP segment of the OpenFlow channel
    that may hold several PACKET_INs), each read from its status line on (`window` bytes of it, or
    the rest of `p`); with `sdp`, only those carrying an SDP body."""
    for s in re.finditer(rb"SIP/2.0 200", p):
        q = p[s.start():s.start() + window] if window else p[s.start():]
        if (sdp and b"application/sdp" not in q) or not re.search(rb"CSeq:\s*\d+\s+INVITE", q, re.I):
            continue
        m = re.search(rb"(?im)^(?:Call-ID|i):\s*(\S+)", q)
        if m:
            yield m.group(1).decode(errors="replace")


def answers(pcap):
    """Call-ID -> time of the first 200 OK to an INVITE carrying an SDP body."""
    out = {}
    for t, p in pcapfile.frames(pcap):
        for c in oks_to_invite(p, sdp=True):
            out.setdefault(c, t)
    return out


def packet_ins(pcap):
    """Call-ID -> time the first TCP segment of the OpenFlow channel carrying that call's 200 OK to
    the INVITE (inside a PACKET_IN) was captured. Segments are searched as they are: a 200 OK split
    across two segments is matched by the segment holding its Call-ID line."""
    out = {}
    for t, p in pcapfile.frames(pcap):
        for c in oks_to_invite(p, window=2000):
            out.setdefault(c, t)
    return out


def started(log):
    out = {}
    for line in open(log, errors="replace"):
        if "media copies started" not in line:
            continue
        m = re.search(r'call_id=("?)([^" ]+)\1', line)
        if not m:
            continue
        t = datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        out.setdefault(m.group(2), t.timestamp())
    return out


def figures(lat):
    lat = sorted(lat)
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
    return {"matched": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "max_ms": round(lat[-1], 2) if lat else None, "min_ms": round(lat[0], 2) if lat else None}


def main(pcap, log, ofchannel=None):
    a, s = answers(pcap), started(log)
    out = {"answers": len(a), "started": len(s), **figures([(s[c] - a[c]) * 1000 for c in s if c in a])}
    if ofchannel:
        p = packet_ins(ofchannel)
        out["ovs"] = figures([(p[c] - a[c]) * 1000 for c in p if c in a])
        out["sipspan"] = figures([(s[c] - p[c]) * 1000 for c in s if c in p])
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
