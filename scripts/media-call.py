#!/usr/bin/env python3
"""Real SIP calls with SDP and their RTCP/RTP over UDP sockets, for the media labs (issue 20).

  media-call.py uas BIND_IP STOPFILE [READY]      (touches READY once listening) answer every INVITE with an SDP (port 50000 + 2n),
                                                  send one RTP and one RTCP packet to the caller's
                                                  ports once the ACK arrives, answer BYEs
  media-call.py uac LOCAL_IP FAR_IP CALLS OUT      place CALLS calls one after another: INVITE with an
                                                  SDP (port 40000 + 2n), ACK, after 0.5 s one RTP and
                                                  one RTCP packet to the far end's ports, BYE, then
                                                  (the call is over) one more RTCP each; OUT gets JSON
  media-call.py count MONITOR.pcap OUT.json        what the monitor got, by kind, against OUT

Only sockets in the namespaces the caller runs this in; no traffic elsewhere.
"""
import json, os, re, socket, struct, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapfile

SIP = 5060


def sdp(ip, port):
    return "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (ip, ip, port)


def message(start, call_id, cseq, from_tag, to_tag=None, body=""):
    h = [start, "Via: SIP/2.0/UDP lab;branch=z9hG4bK%s%s" % (abs(hash(call_id)) % 10**8, cseq.replace(" ", "")),
         "From: <sip:a@lab>;tag=%s" % from_tag, "To: <sip:b@lab>" + (";tag=%s" % to_tag if to_tag else ""),
         "Call-ID: %s" % call_id, "CSeq: %s" % cseq, "Max-Forwards: 70"]
    if body:
        h.append("Content-Type: application/sdp")
    h.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(h) + "\r\n\r\n" + body).encode()


def header(data, name):
    m = re.search(rb"^" + name.encode() + rb":\s*(.*?)\r?$", data, re.M | re.I)
    return m.group(1).decode() if m else ""


def media_port(data):
    m = re.search(rb"^m=audio (\d+)", data, re.M)
    return int(m.group(1)) if m else 0


RTCP = bytes([0x80, 201, 0, 1, 0, 0, 0x01, 0x01])   # receiver report, no blocks
RTP = bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0x01, 0x01]) + b"\xff" * 20


def uas(bind, stopfile, ready=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, SIP)); s.settimeout(0.2)
    if ready:
        open(ready, "w").close()
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    calls, n = {}, 0
    while not os.path.exists(stopfile):
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        cid, cseq = header(data, "Call-ID"), header(data, "CSeq")
        if data.startswith(b"INVITE"):
            if cid not in calls:
                calls[cid] = (50000 + 2 * (n % 5000), media_port(data)); n += 1
            port = calls[cid][0]
            s.sendto(message("SIP/2.0 200 OK", cid, cseq, "a1", "b1", sdp(bind, port)), peer)
        elif data.startswith(b"ACK") and cid in calls:
            theirs = calls[cid][1]
            time.sleep(0.5)
            media.sendto(RTP, (peer[0], theirs)); media.sendto(RTCP, (peer[0], theirs + 1))
        elif data.startswith(b"BYE"):
            s.sendto(message("SIP/2.0 200 OK", cid, cseq, "a1", "b1"), peer)
            if cid in calls:
                theirs = calls.pop(cid)[1]
                time.sleep(0.3)
                media.sendto(RTCP, (peer[0], theirs + 1))   # after the call: not to be copied


def uac(local, far, count, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, SIP)); s.settimeout(1)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    done, calls = 0, []

    def transaction(msg, cseq):
        """Sends a request and waits for its final response, retransmitting like SIP over UDP does."""
        for _ in range(5):
            s.sendto(msg, (far, SIP))
            deadline = time.time() + 1
            while time.time() < deadline:
                try:
                    data, _ = s.recvfrom(65535)
                except socket.timeout:
                    break
                if data.startswith(b"SIP/2.0 200") and header(data, "CSeq") == cseq:
                    return data
        return None

    for i in range(int(count)):
        cid, mine = "lab-%d-%d@%s" % (os.getpid(), i, local), 40000 + 2 * i
        data = transaction(message("INVITE sip:b@%s SIP/2.0" % far, cid, "1 INVITE", "a1", body=sdp(local, mine)), "1 INVITE")
        if data is None:
            continue
        theirs = media_port(data)
        s.sendto(message("ACK sip:b@%s SIP/2.0" % far, cid, "1 ACK", "a1", "b1"), (far, SIP))
        time.sleep(0.5)
        media.sendto(RTP, (far, theirs)); media.sendto(RTCP, (far, theirs + 1))
        time.sleep(0.2)
        if transaction(message("BYE sip:b@%s SIP/2.0" % far, cid, "2 BYE", "a1", "b1"), "2 BYE") is None:
            continue
        time.sleep(0.3)
        media.sendto(RTCP, (far, theirs + 1))   # after the call: not to be copied
        done += 1
        calls.append({"call_id": cid, "ours": mine, "theirs": theirs})
    time.sleep(0.5)
    json.dump({"calls": int(count), "completed": done, "media": calls}, open(out, "w"))


def udp_frames(path):
    out = []
    for _, p in pcapfile.frames(path):
        i = 14
        while len(p) >= i + 4 and p[i - 2:i] in (b"\x81\x00", b"\x88\xa8"):
            i += 4
        if len(p) < i + 28 or p[i - 2:i] != b"\x08\x00" or p[i + 9] != 17:
            continue
        if struct.unpack("!H", p[i + 6:i + 8])[0] & 0x1fff:
            continue   # a later IP fragment (of a large SIP message): no UDP header of its own
        ihl = (p[i] & 15) * 4
        sport, dport = struct.unpack("!HH", p[i + ihl:i + ihl + 4])
        out.append((sport, dport, p[i + ihl + 8:]))
    return out


def count(pcap, calls_json):
    c = json.load(open(calls_json))
    rtcp_ports = {m["ours"] + 1 for m in c["media"]} | {m["theirs"] + 1 for m in c["media"]}
    rtp_ports = {m["ours"] for m in c["media"]} | {m["theirs"] for m in c["media"]}
    sip = rtcp = rtp = other = 0
    seen = {}
    for sport, dport, payload in udp_frames(pcap):
        key = (sport, dport, payload)
        seen[key] = seen.get(key, 0) + 1
        if SIP in (sport, dport):
            sip += 1
        elif dport in rtcp_ports and payload[:2] == RTCP[:2]:
            rtcp += 1
        elif dport in rtp_ports:
            rtp += 1
        else:
            other += 1
    # Every call: INVITE, 200, ACK, BYE, 200 and one RTCP each way during the call; the RTCP sent after
    # the BYE (one each way) must not be there. Identical frames (the after-BYE RTCP has the same bytes
    # and ports as the in-call one) are told apart by count: at most one copy each.
    dup = sum(n - 1 for (s, d, p), n in seen.items() if n > 1 and SIP in (s, d))
    print(json.dumps({"calls": c["calls"], "completed": c["completed"], "sip": sip, "rtcp": rtcp, "rtp": rtp, "other": other,
                      "sip_duplicates": dup, "expected_sip": 5 * c["completed"], "expected_rtcp": 2 * c["completed"]}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"uas": uas, "uac": uac, "count": count}[cmd](*args)
