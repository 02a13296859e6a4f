#!/usr/bin/env python3
"""A TLS peer with a valid switch certificate that resets its connection mid-conversation.

Usage: tls-reset-peer.py PORT CERT KEY CA COUNT [DPID]
Each round: TLS handshake, OpenFlow 1.3 HELLO, then (depending on the round) read nothing, read the
controller's first bytes, or answer FEATURES, and close with SO_LINGER 0 (a TCP reset, no close_notify).
Prints "N resets" at the end. Talks to 127.0.0.1 only.
"""
import socket, ssl, struct, sys

port, cert, key, ca, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
dpid = int(sys.argv[6], 16) if len(sys.argv) > 6 else 0xBADBAD
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
HELLO = bytes([4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x10])

def features_reply(xid):
    # ofp_switch_features: datapath_id, n_buffers 0, n_tables 254, auxiliary_id 0, capabilities 0
    body = struct.pack("!QIBB2xII", dpid, 0, 254, 0, 0, 0)
    return struct.pack("!BBHI", 4, 6, 8 + len(body), xid) + body

resets = 0
for i in range(count):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = ctx.wrap_socket(raw)
    s.sendall(HELLO)
    stage = i % 3
    if stage >= 1:
        data = s.recv(4096)  # sipspan's HELLO and pipelined requests
    if stage == 2:
        # Find FEATURES_REQUEST (type 5) and answer it, so the reset lands during the sync.
        off = 0
        while off + 8 <= len(data):
            ver, typ, length, xid = struct.unpack("!BBHI", data[off:off + 8])
            if typ == 5:
                s.sendall(features_reply(xid))
            off += max(length, 8)
        s.settimeout(0.5)
        try:
            s.recv(4096)
        except socket.timeout:
            pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # no unwrap(): no close_notify, just a reset
    resets += 1
print(f"{resets} resets")
