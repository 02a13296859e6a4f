#!/usr/bin/env python3
"""Decapsulates what a collector received: ERSPAN type II (GRE protocol 0x88be) or VXLAN (UDP 4789)
frames of a pcap become the inner Ethernet frames, written to a new pcap (so tcpdump filters count
them like a local monitor's capture). Prints one JSON line: frames, the session ids / VNIs seen, and
frames that were neither.

Usage: erspan-decap.py IN.pcap OUT.pcap
"""
import json, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapfile

src, dst = sys.argv[1], sys.argv[2]
pcap = pcapfile.read(src)
e = pcap.endian
out = bytearray(pcap.header)
frames, ids, other = 0, {}, 0
for ts_sec, ts_usec, pkt in pcap.records():
    inner, key = None, None
    if len(pkt) >= 34 and pkt[12:14] == b"\x08\x00":
        ihl = (pkt[14] & 0x0F) * 4
        proto = pkt[23]
        l4 = 14 + ihl
        if proto == 47 and len(pkt) >= l4 + 4:
            flags, ptype = struct.unpack(">HH", pkt[l4:l4 + 4])
            g = l4 + 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
            if ptype == 0x88BE and len(pkt) >= g + 8:          # ERSPAN type II: 8-byte header
                key = struct.unpack(">H", pkt[g + 2:g + 4])[0] & 0x03FF
                inner = pkt[g + 8:]
        elif proto == 17 and len(pkt) >= l4 + 16 and struct.unpack(">H", pkt[l4 + 2:l4 + 4])[0] == 4789:
            key = struct.unpack(">I", pkt[l4 + 12:l4 + 16])[0] >> 8   # VXLAN VNI
            inner = pkt[l4 + 16:]
    if inner is None:
        other += 1
        continue
    frames += 1
    ids[str(key)] = ids.get(str(key), 0) + 1
    out += struct.pack(e + "IIII", ts_sec, ts_usec, len(inner), len(inner)) + inner
open(dst, "wb").write(out)
print(json.dumps({"frames": frames, "session_ids": ids, "other": other}))
