"""The peer against itself: two Peers federate, so the peer's own signing,
hashing and checks are known to agree with each other before they judge
hearth, and its checks are shown to refuse forgeries.

    /usr/bin/python3 peer_selftest.py --ca CA.pem --certs DIR --ips 127.0.0.3,127.0.0.4

DIR holds IP.pem and IP.key for each IP (test/federation/harness.mjs makes
them). Exits non-zero on the first mismatch.
"""

import argparse
import os
import socket

import signedjson.key
import signedjson.sign

import peer as fed

ap = argparse.ArgumentParser()
ap.add_argument("--ca")
ap.add_argument("--certs")
ap.add_argument("--ips")
args = ap.parse_args()


def free_port(host):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok  ", msg, flush=True)


ip1, ip2 = args.ips.split(",")
peers = []
for ip in (ip1, ip2):
    p = fed.Peer(ip, free_port(ip), os.path.join(args.certs, ip + ".pem"), os.path.join(args.certs, ip + ".key"), args.ca)
    p.start()
    peers.append(p)
a, b = peers
try:
    doc = a.request("GET", b.server_name, "/_matrix/key/v2/server", sign=False)
    expect(fed.parse_key_document(doc, b.server_name), "a checks b's key document")
    for version in ("10", "11", "12"):
        room = a.create_room("ann", version)
        bob = f"@bob:{b.server_name}"
        broom = b.join_room(a.server_name, room.room_id, bob)
        expect(broom.state.get(("m.room.member", bob)) and room.state.get(("m.room.member", bob)),
               f"v{version}: b joined a's room through make_join/send_join")
        ann = f"@ann:{a.server_name}"
        eid, pdu = a.build_event(room, "m.room.message", ann, {"msgtype": "m.text", "body": "hi"})
        resp = a.send(b.server_name, [pdu])
        expect(resp["pdus"].get(eid) == {} and eid in broom.events, f"v{version}: b accepted a's message")
        eid, pdu = b.build_event(broom, "m.room.message", bob, {"msgtype": "m.text", "body": "hi back"})
        resp = b.send(a.server_name, [pdu])
        expect(resp["pdus"].get(eid) == {} and eid in room.events, f"v{version}: a accepted b's message")
        # Forgeries the peer must refuse (each adds one failure to b).
        before = len(b.failures)
        eid, pdu = a.build_event(room, "m.room.message", ann, {"msgtype": "m.text", "body": "x"}, add=False)
        other = signedjson.key.generate_signing_key("p1")
        pdu["signatures"] = signedjson.sign.sign_json(fed.redact(pdu, version), a.server_name, other)["signatures"]
        resp = a.send(b.server_name, [pdu])
        expect("error" in resp["pdus"].get(eid, {}) and len(b.failures) == before + 1,
               f"v{version}: b refuses a forged signature")
        eid, pdu = a.build_event(room, "m.room.message", ann, {"msgtype": "m.text", "body": "x"}, add=False)
        pdu["content"]["body"] = "y"
        a.send(b.server_name, [pdu])
        expect(len(b.failures) == before + 2 and "content hash" in b.failures[-1],
               f"v{version}: b notices a wrong content hash")
        eid, pdu = a.build_event(room, "m.room.message", ann, {"msgtype": "m.text", "body": "x", "n": 1.5}, add=False)
        a.send(b.server_name, [pdu])
        expect(len(b.failures) == before + 3 and "float" in b.failures[-1], f"v{version}: b refuses a float")
        b.failures.clear()
    # A request signed with the wrong key is refused and recorded.
    try:
        a.request("GET", b.server_name, "/_matrix/federation/v1/query/profile?user_id=" + fed.quote(f"@bob:{b.server_name}"),
                  key=signedjson.key.generate_signing_key("p1"))
        raise AssertionError("b served a request with a forged X-Matrix signature")
    except fed.RemoteError as e:
        expect(e.status == 401 and b.failures, "b refuses a forged X-Matrix signature with 401")
    b.failures.clear()
    expect(not a.failures, f"a recorded no failure ({a.failures})")
finally:
    for p in peers:
        p.stop()
print("peer self-test: ok")
