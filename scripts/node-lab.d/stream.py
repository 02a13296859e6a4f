#!/usr/bin/env python3
"""A numbered UDP frame stream for the node lab, and its accounting.

  stream.py send SRC DST DPORT RATE STOPFILE OUT [SPORT]
                                                    send datagrams 'SEQ nnnnnnnn ...' from SRC:SPORT
                                                    (default DPORT) to DST:DPORT at RATE/s until
                                                    STOPFILE exists; OUT gets one 'seq time' line per
                                                    datagram sent
  stream.py recv BIND DPORT STOPFILE OUT            receive them; OUT gets 'seq time' per datagram
                                                    (OUT.ready is created once the socket is bound)
  stream.py summary SENT RECV MONITOR.pcap [T0 T1 [T2]]  JSON: sent, received, lost, the longest gap in
                                                    delivery, the copies on the monitor (from its pcap,
                                                    by sequence number), duplicated copies, delivered
                                                    frames without a copy (only those sent after T1, when
                                                    given: before it the bridge may be recovering), and
                                                    the longest gap in copies. T0..T1: an event's window;
                                                    with it, when copying resumed (every delivered frame
                                                    from then on copied once) relative to T1, and (T2)
                                                    the frames lost from T2 on.
"""
import json, os, socket, struct, sys, time

# pcapfile.py: beside this file in the VM (/lab), one directory up in the repository (scripts/).
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..")]
import pcapfile


def send(src, dst, port, rate, stopfile, out, sport=None):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, int(sport or port)))
    period = 1.0 / float(rate)
    log, seq, nxt = [], 0, time.time()
    pad = b"x" * 100
    while not os.path.exists(stopfile):
        now = time.time()
        if now < nxt:
            time.sleep(min(nxt - now, 0.05))
            continue
        try:
            s.sendto(b"SEQ %08d SIP/2.0 stream " % seq + pad, (dst, int(port)))
        except OSError:
            pass  # no route during a restart: counted as sent, and lost
        log.append((seq, now))
        seq += 1
        nxt += period
        if nxt < now - 1:  # far behind (a stalled VM): do not burst
            nxt = now
    with open(out, "w") as f:
        for q, t in log:
            f.write("%d %.6f\n" % (q, t))


def recv(bind, port, stopfile, out):
    fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind, int(port)))
    # Bound: the sender may start (frames sent before would meet a closed port, and be counted lost).
    open(out + ".ready", "w").close()
    s.settimeout(0.25)
    log, quiet = [], 0
    while True:
        try:
            data = s.recv(2048)
            quiet = 0
        except socket.timeout:
            # Stop once the sender has stopped and nothing came for a second (frames still queued
            # in a slow, emulated path are received, not counted lost).
            if os.path.exists(stopfile):
                quiet += 1
                if quiet >= 4:
                    break
            continue
        if data.startswith(b"SEQ "):
            log.append((int(data[4:12]), time.time()))
    with open(out, "w") as f:
        for q, t in log:
            f.write("%d %.6f\n" % (q, t))


def pcap_seqs(path):
    """(seq, time) of every frame of a pcap carrying a stream datagram (IPv4/UDP, maybe VLAN-tagged)."""
    out = []
    for t, pkt in pcapfile.frames(path):
        i = pkt.find(b"SEQ ")
        if i >= 0 and len(pkt) >= i + 12:
            try:
                out.append((int(pkt[i + 4:i + 12]), t))
            except ValueError:
                pass
    return out


def read(path):
    try:
        return [(int(a), float(b)) for a, b in (l.split() for l in open(path) if l.strip())]
    except OSError:
        return []


def gap(times):
    times = sorted(times)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def summary(sentf, recvf, pcap, t0=None, t1=None, t2=None):
    sent, recvd, copies = read(sentf), read(recvf), pcap_seqs(pcap)
    sent_at = dict(sent)
    got = {q for q, _ in recvd}
    copied = {}
    for q, _ in copies:
        copied[q] = copied.get(q, 0) + 1
    after = [q for q, t in sent if t1 is None or t > float(t1)]
    r = {
        "sent": len(sent), "received": len(got), "lost": len(set(sent_at) - got),
        "duplicated_deliveries": len(recvd) - len(got),
        "delivery_gap_ms": round(gap([t for _, t in recvd]) * 1000, 1),
        "copies": len(copies), "copy_duplicates": sum(c - 1 for c in copied.values() if c > 1),
        "copy_gap_ms": round(gap([t for _, t in copies]) * 1000, 1),
        "delivered_without_copy_after": len([q for q in after if q in got and q not in copied]),
        "delivered_after": len([q for q in after if q in got]),
        "copies_not_delivered": len([q for q in copied if q not in got]),
    }
    if t0 is not None:
        # When copying resumed after the event: the first frame sent after T0 from which every delivered
        # frame was copied exactly once; its send time relative to T1 (the bridge confirmed) is the
        # copy outage beyond the confirmation (negative: copies were back before the log said so).
        after_t0 = sorted((q, t) for q, t in sent if t >= float(t0))
        bad = [q for q, _ in after_t0 if q in got and copied.get(q, 0) != 1]
        if after_t0:
            rest = [(q, t) for q, t in after_t0 if not bad or q > bad[-1]]
            if rest:
                r["resume_seq"] = rest[0][0]
                r["resume_after_confirm_s"] = round(rest[0][1] - float(t1), 3)
                r["delivered_after_resume"] = len([q for q, _ in rest if q in got])
                r["lost_after_resume"] = len([q for q, _ in rest if q not in got])
        # Lost after sipspan confirmed the bridge (frames lost while OVS itself restarted are not).
        r["lost_after_confirm"] = len([q for q, t in sent if t > float(t1) and q not in got])
        # Lost while the event ran (t0..t1) and after it.
        r["lost_in_window"] = len([q for q, t in sent if float(t0) <= t <= float(t1) and q not in got])
        r["lost_after"] = len([q for q in after if q not in got])
        # When the lost frames were sent, relative to T0 (the first 20): which part of an event lost them.
        r["lost_at_s"] = [round(t - float(t0), 3) for q, t in sorted(sent) if q not in got][:20]
        if t2 is not None:
            # Lost among the frames sent from T2 on (a point inside the window, such as a restart).
            r["lost_from_t2"] = len([q for q, t in sent if t >= float(t2) and q not in got])
        # Delivery resumed: first frame sent after t0 that arrived after the longest outage.
        r["window_s"] = round(float(t1) - float(t0), 3)
    print(json.dumps(r))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"send": send, "recv": recv, "summary": summary}[cmd](*args)
