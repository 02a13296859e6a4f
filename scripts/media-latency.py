#!/usr/bin/env python3
"""Call setup to media flows, per call: from the copy of the SIP message that completed a call's
offer/answer (the 200 OK to the INVITE, as the monitor captured it) to sipspan sending the call's
media flows (its 'media copies started' debug line). Read after the run, from files only.

  media-latency.py MONITOR.pcap SIPSPAN.log   ->  JSON: calls matched, p50/p99/max in ms
"""
import datetime, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapfile


def answers(pcap):
    """Call-ID -> time of the first 200 OK to an INVITE carrying an SDP body."""
    out = {}
    for t, p in pcapfile.frames(pcap):
        i = p.find(b"SIP/2.0 200")
        if i < 0 or b"application/sdp" not in p or not re.search(rb"CSeq:\s*\d+\s+INVITE", p, re.I):
            continue
        m = re.search(rb"(?im)^(?:Call-ID|i):\s*(\S+)", p[i:])
        if m:
            out.setdefault(m.group(1).decode(errors="replace"), t)
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


def main(pcap, log):
    a, s = answers(pcap), started(log)
    lat = sorted((s[c] - a[c]) * 1000 for c in s if c in a)
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
    print(json.dumps({"answers": len(a), "started": len(s), "matched": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "max_ms": round(lat[-1], 2) if lat else None, "min_ms": round(lat[0], 2) if lat else None}))


if __name__ == "__main__":
    main(*sys.argv[1:])
