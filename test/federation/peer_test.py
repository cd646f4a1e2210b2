"""The independent-peer test: hearth federating with a server it shares no code with.

    /usr/bin/python3 peer_test.py --hearth NAME --client URL --ca CA.pem \
        --cert PEER.pem --key PEER.key --listen 127.0.0.3:PORT [--steps a,b] [--list]

NAME is hearth's server name (its federation listener, an IP literal with a
port), URL its client-server API (open registration, rate limits off), the
certificate is the peer's, for the IP it listens on, signed by the test CA
that hearth trusts (federation.ca_file) and that the peer trusts for hearth.

Each step prints "ok NAME" or "FAIL NAME: why"; the exit status is 1 when a
step failed. A step fails too when the peer recorded, during it, a request or
event from hearth that the specification refuses (peer.failures).
"""

import argparse
import json
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import signedjson.key
import signedjson.sign

import peer as fed

ap = argparse.ArgumentParser()
ap.add_argument("--hearth")
ap.add_argument("--client")
ap.add_argument("--ca")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--listen")
ap.add_argument("--steps", default="")
ap.add_argument("--list", action="store_true")
args = ap.parse_args()

H = args.hearth
SUFFIX = format(int(time.time() * 1000), "x")[-6:]
WAIT = 30  # seconds an asynchronous outcome may take before the step fails


class StepFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise StepFailed(msg)


# --- hearth's client API ----------------------------------------------------


class HTTPFailure(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


def call(method, path, body=None, token=None, query=None):
    url = args.client.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        raise HTTPFailure(method, path, e.code, parsed) from None


def q(s):
    return urllib.parse.quote(s, safe="")


def register(name):
    body = {"username": name, "password": "pw-" + name}
    try:
        call("POST", "/_matrix/client/v3/register", body)
        raise StepFailed("register without auth should ask for user-interactive auth")
    except HTTPFailure as e:
        if e.status != 401:
            raise
        body["auth"] = {"type": "m.login.dummy", "session": e.body["session"]}
    return call("POST", "/_matrix/client/v3/register", body)


def client_event(token, room_id, event_id):
    """The event as hearth's client API shows it, or None when it is not found."""
    try:
        return call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(event_id)}", token=token)
    except HTTPFailure as e:
        if e.status == 404:
            return None
        raise


def poll(fn, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not within {timeout} s")
        time.sleep(0.1)


# --- the run ----------------------------------------------------------------

host, port = args.listen.rsplit(":", 1) if args.listen else ("127.0.0.3", "0")
peer = fed.Peer(host, int(port), args.cert, args.key, args.ca)
S = {}  # what steps leave for later steps
STEPS = []


def step(fn):
    STEPS.append(fn)
    return fn


def need(key, step_name):
    if key not in S:
        raise StepFailed(f"needs step {step_name}, which did not pass")
    return S[key]


def peer_user(local):
    return f"@{local}-{SUFFIX}:{peer.server_name}"


def alice():
    if "alice" not in S:
        r = register("alice" + SUFFIX)
        S["alice"] = (r["user_id"], r["access_token"])
    return S["alice"]


@step
def keys():
    """hearth's /_matrix/key/v2/server on its federation listener, checked here."""
    doc = peer.request("GET", H, "/_matrix/key/v2/server", sign=False)
    fed.parse_key_document(doc, H)


@step
def version():
    doc = peer.request("GET", H, "/_matrix/federation/v1/version")
    check(isinstance(doc.get("server"), dict), f"version answer {doc}")


@step
def notary_query():
    """hearth as a notary: the peer's own key document comes back with the peer's
    signature intact and a valid signature of hearth's (POST and GET forms)."""
    want = peer.signing_key.verify_key.encode()
    hearth_keys = fed.parse_key_document(peer.request("GET", H, "/_matrix/key/v2/server", sign=False), H)
    answers = [
        peer.request("POST", H, "/_matrix/key/v2/query", {"server_keys": {peer.server_name: {peer.key_id: {}}}}, sign=False),
        peer.request("GET", H, f"/_matrix/key/v2/query/{q(peer.server_name)}", sign=False),
    ]
    for resp in answers:
        docs = [d for d in resp.get("server_keys", []) if d.get("server_name") == peer.server_name]
        check(len(docs) == 1, f"notary answered {resp}")
        doc = docs[0]
        ours = fed.parse_key_document(doc, peer.server_name)
        check(ours[peer.key_id].encode() == want, "the notary changed the peer's key")
        sigs = doc.get("signatures", {}).get(H, {})
        check(sigs, f"the notary did not sign the document: {doc.get('signatures')}")
        for key_id in sigs:
            check(key_id in hearth_keys, f"notary signed with {key_id}, which it does not serve")
            try:
                signedjson.sign.verify_signed_json(doc, H, hearth_keys[key_id])
            except signedjson.sign.SignatureVerifyException as e:
                raise StepFailed(f"notary signature: {e}") from None


@step
def request_auth():
    """A signed /send is served; unsigned, forged, misaddressed and unknown-origin ones get 401."""
    def path():
        peer.txn += 1
        return f"/_matrix/federation/v1/send/auth{SUFFIX}-{peer.txn}"

    def body(origin=None):
        return {"origin": origin or peer.server_name, "origin_server_ts": int(time.time() * 1000), "pdus": []}

    resp = peer.request("PUT", H, path(), body())
    check(resp.get("pdus") == {}, f"empty transaction answered {resp}")
    other = signedjson.key.generate_signing_key("p1")
    cases = {
        "unsigned": dict(sign=False),
        "forged signature": dict(key=other),
        "origin that is not the signer": dict(origin="127.0.0.9:1"),
    }
    for what, kw in cases.items():
        try:
            peer.request("PUT", H, path(), body(kw.get("origin")), **kw)
            raise StepFailed(f"{what} request was served")
        except fed.RemoteError as e:
            check(e.status == 401, f"{what} request: {e.status} {e.body}, want 401")
    p = path()
    hdr = fed.xmatrix_header(peer.server_name, "127.0.0.9:1", peer.signing_key, "PUT", p, body())
    try:
        peer.request("PUT", H, p, body(), sign=False, headers={"Authorization": hdr})
        raise StepFailed("a request signed for another destination was served")
    except fed.RemoteError as e:
        check(e.status == 401, f"request for another destination: {e.status} {e.body}, want 401")


@step
def transaction_limits_and_replay():
    """More than 50 PDUs or 100 EDUs is refused; a repeated txnId gets the stored answer."""
    for what, extra in (("51 PDUs", {"pdus": [{}] * 51}), ("101 EDUs", {"pdus": [], "edus": [{}] * 101})):
        b = {"origin": peer.server_name, "origin_server_ts": int(time.time() * 1000), **extra}
        try:
            peer.request("PUT", H, f"/_matrix/federation/v1/send/big{SUFFIX}-{what.split()[1]}", b)
            raise StepFailed(f"a transaction of {what} was accepted")
        except fed.RemoteError as e:
            check(400 <= e.status < 500, f"{what}: {e.status} {e.body}, want a 4xx")
    b = {"origin": peer.server_name, "origin_server_ts": int(time.time() * 1000), "pdus": []}
    p = f"/_matrix/federation/v1/send/replay{SUFFIX}"
    first = peer.request("PUT", H, p, b)
    again = peer.request("PUT", H, p, b)
    check(first == again, f"replayed transaction answered {again}, first {first}")


@step
def hearth_serves_queries():
    """Profile, alias and public room list queries answered by hearth's federation API."""
    uid, tok = alice()
    call("PUT", f"/_matrix/client/v3/profile/{q(uid)}/displayname", {"displayname": "Alice of hearth"}, tok)
    prof = peer.request("GET", H, f"/_matrix/federation/v1/query/profile?user_id={q(uid)}")
    check(prof.get("displayname") == "Alice of hearth", f"query/profile answered {prof}")
    prof = peer.request("GET", H, f"/_matrix/federation/v1/query/profile?user_id={q(uid)}&field=displayname")
    check(prof == {"displayname": "Alice of hearth"}, f"query/profile with field answered {prof}")
    alias_local = "square" + SUFFIX
    r = call("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "visibility": "public",
                                                      "room_alias_name": alias_local, "name": "Square"}, tok)
    alias = f"#{alias_local}:{H}"
    d = peer.request("GET", H, f"/_matrix/federation/v1/query/directory?room_alias={q(alias)}")
    check(d.get("room_id") == r["room_id"] and H in d.get("servers", []), f"query/directory answered {d}")
    try:
        peer.request("GET", H, f"/_matrix/federation/v1/query/directory?room_alias={q('#nope' + SUFFIX + ':' + H)}")
        raise StepFailed("an unknown alias was answered")
    except fed.RemoteError as e:
        check(e.status == 404, f"unknown alias: {e.status} {e.body}, want 404")
    rooms = peer.request("GET", H, "/_matrix/federation/v1/publicRooms?limit=50")
    check(any(c.get("room_id") == r["room_id"] and c.get("name") == "Square" for c in rooms.get("chunk", [])),
          f"publicRooms answered {rooms}")


@step
def hearth_serves_user_keys():
    """alice's device and keys, as uploaded, through /user/devices, /user/keys/query and /user/keys/claim."""
    uid, tok = alice()
    who = call("GET", "/_matrix/client/v3/account/whoami", token=tok)
    dev = who["device_id"]
    signing = signedjson.key.generate_signing_key(dev)
    keys = {
        "user_id": uid, "device_id": dev, "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{dev}": fed.b64(b"c" * 32), f"ed25519:{dev}": fed.b64(signing.verify_key.encode())},
    }
    keys = signedjson.sign.sign_json(keys, uid, signing)
    otk = signedjson.sign.sign_json({"key": fed.b64(b"o" * 32)}, uid, signing)
    call("POST", "/_matrix/client/v3/keys/upload", {"device_keys": keys, "one_time_keys": {"signed_curve25519:AAAAAQ": otk}}, tok)
    r = peer.request("GET", H, f"/_matrix/federation/v1/user/devices/{q(uid)}")
    check(r.get("user_id") == uid and any(d.get("device_id") == dev and d.get("keys") == keys
                                          for d in r.get("devices", [])), f"/user/devices answered {r}")
    r = peer.request("POST", H, "/_matrix/federation/v1/user/keys/query", {"device_keys": {uid: []}})
    check(r.get("device_keys", {}).get(uid, {}).get(dev) == keys, f"/user/keys/query answered {r}")
    r = peer.request("POST", H, "/_matrix/federation/v1/user/keys/claim",
                     {"one_time_keys": {uid: {dev: "signed_curve25519"}}})
    check(r.get("one_time_keys", {}).get(uid, {}).get(dev) == {"signed_curve25519:AAAAAQ": otk},
          f"/user/keys/claim answered {r}")


@step
def to_device_from_peer():
    """The peer's m.direct_to_device EDU reaches alice's device in /sync."""
    uid, tok = alice()
    dev = call("GET", "/_matrix/client/v3/account/whoami", token=tok)["device_id"]
    carol = peer_user("carol")
    msg_id = "td" + SUFFIX
    peer.send(H, edus=[{"edu_type": "m.direct_to_device", "content": {
        "sender": carol, "type": "org.hearth.test", "message_id": msg_id,
        "messages": {uid: {dev: {"from": "the peer"}}}}}])

    def got_it():
        r = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0"})
        return [e for e in r.get("to_device", {}).get("events", [])
                if e.get("type") == "org.hearth.test" and e.get("sender") == carol]
    ev = poll(got_it, "alice's /sync has the peer's to-device message")
    check(ev[0].get("content") == {"from": "the peer"}, f"to-device content {ev[0]}")


@step
def to_device_to_peer():
    """alice's to-device message to a device of the peer's user goes out as an m.direct_to_device EDU."""
    uid, tok = alice()
    carol = peer_user("carol")
    msg_id = "tp" + SUFFIX
    call("PUT", f"/_matrix/client/v3/sendToDevice/org.hearth.test/{msg_id}",
         {"messages": {carol: {"PEERDEV": {"from": "alice"}}}}, tok)
    got = peer.wait_for(lambda: [e for e in peer.received_edus if e.get("edu_type") == "m.direct_to_device"
                                 and e.get("content", {}).get("sender") == uid], WAIT)
    check(got, "alice's to-device message did not reach the peer")
    content = got[0]["content"]
    check(content.get("type") == "org.hearth.test" and
          content.get("messages", {}).get(carol, {}).get("PEERDEV") == {"from": "alice"}, f"EDU {content}")


@step
def hearth_queries_peer():
    """alice's client asks hearth for a profile on the peer; hearth asks the peer."""
    _, tok = alice()
    carol = peer_user("carol")
    peer.displaynames[carol] = "Carol of the peer"
    prof = call("GET", f"/_matrix/client/v3/profile/{q(carol)}", token=tok)
    check(prof.get("displayname") == "Carol of the peer", f"alice sees profile {prof}")


def hearth_joins(version):
    uid, tok = alice()
    room = peer.create_room("carol-" + SUFFIX, version)
    call("POST", f"/_matrix/client/v3/join/{q(room.room_id)}", {}, tok, query={"server_name": peer.server_name})
    joined = peer.wait_for(lambda: [p for _, p in peer.received_pdus if p["room_id"] == room.room_id
                                    and p["type"] == "m.room.member" and p["state_key"] == uid], WAIT)
    check(joined, "no join of alice reached the peer")
    S[f"peer_room_{version}"] = room
    return room


@step
def hearth_joins_peer_room_v10():
    hearth_joins("10")


@step
def hearth_joins_peer_room_v11():
    hearth_joins("11")


@step
def hearth_joins_peer_room_v12():
    hearth_joins("12")


def send_and_see(room, sender, body):
    """A message of ours that hearth must accept and alice must see."""
    _, tok = alice()
    eid, pdu = peer.build_event(room, "m.room.message", sender, {"msgtype": "m.text", "body": body})
    resp = peer.send(H, [pdu])
    res = resp.get("pdus", {}).get(eid)  # the step send_answers_every_pdu checks it is there
    check(res is None or "error" not in res, f"hearth refused a valid event: {res}")
    ev = poll(lambda: client_event(tok, room.room_id, eid), f"alice sees {eid}")
    check(ev.get("content", {}).get("body") == body, f"alice sees {ev}")
    return eid


@step
def peer_message_reaches_hearth():
    for v in ("10", "11", "12"):
        room = need(f"peer_room_{v}", f"hearth_joins_peer_room_v{v}")
        send_and_see(room, creator(room), f"hello from the peer in v{v}")


@step
def send_answers_every_pdu():
    """The /send answer holds a result for each PDU, {} for one handled well (spec example)."""
    room = need("peer_room_11", "hearth_joins_peer_room_v11")
    _, tok = alice()
    eid, pdu = peer.build_event(room, "m.room.message", creator(room), {"msgtype": "m.text", "body": "answer me"})
    resp = peer.send(H, [pdu])
    check(resp.get("pdus", {}).get(eid) == {}, f"/send answered {resp} for a valid PDU, want {{'{eid}': {{}}}}")


@step
def hearth_message_reaches_peer():
    _, tok = alice()
    for v in ("10", "11", "12"):
        room = need(f"peer_room_{v}", f"hearth_joins_peer_room_v{v}")
        r = call("PUT", f"/_matrix/client/v3/rooms/{q(room.room_id)}/send/m.room.message/m{v}{SUFFIX}",
                 {"msgtype": "m.text", "body": f"hello from hearth in v{v}"}, tok)
        got = peer.wait_for(lambda: r["event_id"] in room.events, WAIT)
        check(got, f"alice's message {r['event_id']} did not reach the peer")


@step
def hearth_edus_reach_peer():
    uid, tok = alice()
    room = need("peer_room_11", "hearth_joins_peer_room_v11")
    call("PUT", f"/_matrix/client/v3/rooms/{q(room.room_id)}/typing/{q(uid)}", {"typing": True, "timeout": 30000}, tok)
    got = peer.wait_for(lambda: [e for e in peer.received_edus if e.get("edu_type") == "m.typing"
                                 and e.get("content", {}).get("user_id") == uid], WAIT)
    check(got, "no m.typing EDU reached the peer")
    last = room.extremities[-1]
    call("POST", f"/_matrix/client/v3/rooms/{q(room.room_id)}/receipt/m.read/{q(last)}", {}, tok)
    got = peer.wait_for(lambda: [e for e in peer.received_edus if e.get("edu_type") == "m.receipt"
                                 and room.room_id in e.get("content", {})], WAIT)
    check(got, "no m.receipt EDU reached the peer")


def peer_joins(version):
    uid, tok = alice()
    r = call("POST", "/_matrix/client/v3/createRoom",
             {"preset": "public_chat", "room_version": version, "name": f"hearth room v{version}"}, tok)
    room_id = r["room_id"]
    erin = peer_user("erin")
    room = peer.join_room(H, room_id, erin)
    member = poll(lambda: _member(tok, room_id, erin), f"alice sees {erin} joined")
    check(member.get("membership") == "join", f"erin's member event {member}")
    S[f"hearth_room_{version}"] = (room, erin)


def _member(tok, room_id, user_id):
    try:
        return call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.member/{q(user_id)}", token=tok)
    except HTTPFailure as e:
        if e.status in (403, 404):
            return None
        raise


@step
def device_list_to_peer():
    """A new device of alice's reaches the peer, which shares a room with her, as m.device_list_update."""
    uid, tok = alice()
    need("peer_room_11", "hearth_joins_peer_room_v11")
    login = call("POST", "/_matrix/client/v3/login", {"type": "m.login.password", "password": "pw-alice" + SUFFIX,
                                                     "identifier": {"type": "m.id.user", "user": uid}})
    new_dev = login["device_id"]
    got = peer.wait_for(lambda: [e for e in peer.received_edus if e.get("edu_type") == "m.device_list_update"
                                 and e["content"].get("user_id") == uid
                                 and e["content"].get("device_id") == new_dev], WAIT)
    check(got, f"no m.device_list_update for alice's new device {new_dev} reached the peer")


@step
def device_list_from_peer():
    """The peer's m.device_list_update for carol shows in alice's /sync device_lists.changed."""
    uid, tok = alice()
    room = need("peer_room_11", "hearth_joins_peer_room_v11")  # alice and carol share it
    carol = creator(room)
    since = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0"})["next_batch"]
    peer.send(H, edus=[{"edu_type": "m.device_list_update", "content": {
        "user_id": carol, "device_id": "CAROLDEV", "stream_id": 1, "prev_id": [], "deleted": False,
        "device_display_name": "carol's laptop"}}])

    def changed():
        r = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0", "since": since})
        return carol in r.get("device_lists", {}).get("changed", [])
    poll(changed, "alice's /sync lists carol in device_lists.changed")


def ephemeral(tok, room_id, edu_type):
    r = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0"})
    events = r.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
    return [e for e in events if e.get("type") == edu_type]


@step
def peer_edus_reach_hearth():
    """Typing and a read receipt of the peer's user, as EDUs, reach alice's /sync."""
    _, tok = alice()
    room = need("peer_room_11", "hearth_joins_peer_room_v11")
    carol = creator(room)
    peer.send(H, edus=[{"edu_type": "m.typing", "content": {"room_id": room.room_id, "user_id": carol, "typing": True}}])
    poll(lambda: any(carol in e["content"].get("user_ids", []) for e in ephemeral(tok, room.room_id, "m.typing")),
         "alice sees carol typing")
    last = room.extremities[-1]
    peer.send(H, edus=[{"edu_type": "m.receipt", "content": {room.room_id: {"m.read": {
        carol: {"event_ids": [last], "data": {"ts": int(time.time() * 1000)}}}}}}])
    poll(lambda: any(carol in e["content"].get(last, {}).get("m.read", {})
                     for e in ephemeral(tok, room.room_id, "m.receipt")), "alice sees carol's receipt")


def alice_bodies(tok, room_id, limit=200):
    """The message bodies alice's /messages gives for room_id, oldest first."""
    out, frm = [], None
    for _ in range(50):
        query = {"dir": "b", "limit": "50"}
        if frm:
            query["from"] = frm
        page = call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages", token=tok, query=query)
        out.extend(e["content"].get("body") for e in page["chunk"] if e["type"] == "m.room.message")
        if not page.get("end") or not page["chunk"] or len(out) >= limit:
            break
        frm = page["end"]
    return list(reversed(out))


@step
def hearth_backfills_from_peer():
    """History from before alice joined comes from the peer's /backfill when she pages back."""
    uid, tok = alice()
    room = peer.create_room("carol-" + SUFFIX, "11")
    before = [f"before the join {i}" for i in range(5)]
    for body in before:
        peer.build_event(room, "m.room.message", creator(room), {"msgtype": "m.text", "body": body})
    call("POST", f"/_matrix/client/v3/join/{q(room.room_id)}", {}, tok, query={"server_name": peer.server_name})
    try:
        poll(lambda: [b for b in alice_bodies(tok, room.room_id) if b in before] == before or None,
             "alice's /messages shows the 5 messages from before her join, in order")
    except StepFailed as e:
        asked = sorted({path.split("/")[4] for _, path, _ in peer.requests if path.startswith("/_matrix/federation/v1/")})
        raise StepFailed(f"{e}; alice's /messages: {alice_bodies(tok, room.room_id)}; "
                         f"hearth asked the peer for: {asked}") from None


@step
def hearth_fetches_missing_events():
    """A PDU whose prev_events hearth lacks: hearth fetches them with /get_missing_events."""
    _, tok = alice()
    room = need("peer_room_11", "hearth_joins_peer_room_v11")
    gap = [f"missing {i}" for i in range(4)]
    for body in gap:
        peer.build_event(room, "m.room.message", creator(room), {"msgtype": "m.text", "body": body})
    eid = send_and_see(room, creator(room), "after the missing ones")
    got = poll(lambda: [b for b in alice_bodies(tok, room.room_id) if b in gap] == gap or None,
               "alice sees the 4 missing messages, in order")
    check(got and eid, "no missing events")
    check(any(path.startswith("/_matrix/federation/v1/get_missing_events/") for _, path, _ in peer.requests),
          "hearth never asked the peer for /get_missing_events")


@step
def hearth_fills_a_gap_with_state():
    """A PDU after a gap longer than get_missing_events goes: the state at the gap
    (a new room name inside it) still reaches hearth, through /state_ids or /state."""
    _, tok = alice()
    room = need("peer_room_11", "hearth_joins_peer_room_v11")
    carol = creator(room)
    for i in range(30):
        peer.build_event(room, "m.room.message", carol, {"msgtype": "m.text", "body": f"gap {i}"})
        if i == 10:
            peer.build_event(room, "m.room.name", carol, {"name": "named in the gap"}, state_key="")
    send_and_see(room, carol, "after the gap")

    def named():
        try:
            return call("GET", f"/_matrix/client/v3/rooms/{q(room.room_id)}/state/m.room.name/", token=tok)
        except HTTPFailure:
            return None
    got = poll(named, "alice sees the name set inside the gap")
    check(got.get("name") == "named in the gap", f"room name {got}")


@step
def peer_joins_hearth_room_v10():
    peer_joins("10")


@step
def peer_joins_hearth_room_v11():
    peer_joins("11")


@step
def peer_joins_hearth_room_v12():
    peer_joins("12")


@step
def messages_both_ways_in_hearth_room():
    _, tok = alice()
    for v in ("10", "11", "12"):
        room, erin = need(f"hearth_room_{v}", f"peer_joins_hearth_room_v{v}")
        send_and_see(room, erin, f"erin in hearth's v{v} room")
        r = call("PUT", f"/_matrix/client/v3/rooms/{q(room.room_id)}/send/m.room.message/h{v}{SUFFIX}",
                 {"msgtype": "m.text", "body": f"alice answers in v{v}"}, tok)
        check(peer.wait_for(lambda: r["event_id"] in room.events, WAIT),
              f"alice's message {r['event_id']} did not reach the peer")


def creator(room):
    return room.events[room.state[("m.room.create", "")]]["sender"]


def refusal_rooms():
    """The rooms to send refused events into, each with a joined user of the peer:
    the peer's v11 room that alice joined and hearth's v12 room that erin joined."""
    rooms = []
    if "peer_room_11" in S:
        rooms.append((S["peer_room_11"], creator(S["peer_room_11"])))
    if "hearth_room_12" in S:
        rooms.append(S["hearth_room_12"])
    if not rooms:
        raise StepFailed("needs hearth_joins_peer_room_v11 or peer_joins_hearth_room_v12, and neither passed")
    return rooms


def expect_refused(room, sender, what, pdu, event_id, send_kw=None, need_error=True, redacted_ok=False):
    """hearth must not show pdu to alice; format and signature failures must be answered as errors."""
    _, tok = alice()
    answer = None
    try:
        resp = peer.send(H, [pdu], **(send_kw or {}))
        answer = resp.get("pdus", {}).get(event_id)
        errored = isinstance(answer, dict) and "error" in answer
        if answer is None:
            answer = f"no result for {event_id} in {resp}"
            if any(not k.startswith("$") for k in resp.get("pdus", {})):
                answer += " (results are keyed by event ID: spec, PUT /send, PDU Processing Results)"
    except fed.RemoteError as e:
        check(400 <= e.status < 500, f"{what}: /send answered {e.status} {e.body}")
        errored = True
        answer = f"{e.status} {e.body}"
    # A valid event after it: once alice sees that one, hearth has handled both.
    send_and_see(room, sender, f"after {what}")
    seen = client_event(tok, room.room_id, event_id)
    if seen is not None and redacted_ok:
        check("body" not in seen.get("content", {}), f"{what}: alice sees the unredacted content {seen['content']}")
    else:
        check(seen is None, f"{what}: alice sees the event: {seen}")
    if need_error:
        check(errored, f"{what}: /send answered {answer!r} for it, want an error")
    print(f"   v{room.version} {what}: {answer}", flush=True)


def bad_message(room, sender, content=None):
    return peer.build_event(room, "m.room.message", sender,
                            content or {"msgtype": "m.text", "body": "refuse me"}, add=False)


@step
def refuses_forged_signature():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender)
        other = signedjson.key.generate_signing_key("p1")
        forged = signedjson.sign.sign_json(fed.redact(pdu, room.version), peer.server_name, other)
        pdu["signatures"] = forged["signatures"]
        expect_refused(room, sender, "forged signature", pdu, eid)


@step
def refuses_unsigned_event():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender)
        pdu["signatures"] = {}
        expect_refused(room, sender, "unsigned event", pdu, eid)


@step
def redacts_wrong_content_hash():
    """Spec: a content hash mismatch makes hearth keep the redacted event, never the content."""
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender, content={"msgtype": "m.text", "body": "signed body"})
        pdu["content"]["body"] = "tampered body"
        expect_refused(room, sender, "wrong content hash", pdu, eid, need_error=False, redacted_ok=True)


@step
def refuses_wrong_origin():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender)
        expect_refused(room, sender, "transaction origin that is not the X-Matrix origin", pdu, eid,
                       send_kw={"body_origin": "127.0.0.9:1"})


@step
def refuses_sender_of_other_server():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, "@eve:127.0.0.9:1")
        expect_refused(room, sender, "event of another server's user signed only by the peer", pdu, eid)


@step
def refuses_failed_auth():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, peer_user("mallory"))
        expect_refused(room, sender, "message of a user who never joined", pdu, eid, need_error=False)
        dave = peer_user("dave")
        if room.state.get(("m.room.member", dave)) is None:
            jid, join = peer.build_event(room, "m.room.member", dave, {"membership": "join"}, state_key=dave)
            resp = peer.send(H, [join])
            check("error" not in resp.get("pdus", {}).get(jid, {}), f"dave's valid join refused: {resp}")
        eid, pdu = peer.build_event(room, "m.room.name", dave, {"name": "taken over"}, state_key="", add=False)
        expect_refused(room, sender, "state event of a user below state_default", pdu, eid, need_error=False)


@step
def refuses_oversized_event():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender, content={"msgtype": "m.text", "body": "x" * 66000})
        check(len(fed.canonical(pdu)) > fed.MAX_PDU_BYTES, "the test event is not oversized")
        expect_refused(room, sender, "event over 65536 bytes", pdu, eid)


@step
def refuses_non_canonical_json():
    for room, sender in refusal_rooms():
        eid, pdu = bad_message(room, sender, content={"msgtype": "m.text", "body": "float", "n": 1.5})
        expect_refused(room, sender, "float in content", pdu, eid)
        eid, pdu = bad_message(room, sender, content={"msgtype": "m.text", "body": "big", "n": 2**53})
        expect_refused(room, sender, "integer beyond 2**53-1", pdu, eid)


def history_room():
    room, erin = need("hearth_room_12", "peer_joins_hearth_room_v12")
    join = room.state[("m.room.member", erin)]
    return room, join


def verified(pdus, room, what):
    """The event IDs of pdus, each checked by the peer."""
    check(isinstance(pdus, list) and pdus, f"{what}: no events")
    return [peer.verify_pdu(p, room.version) for p in pdus]


def private_room_id():
    if "private_room" not in S:
        _, tok = alice()
        S["private_room"] = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, tok)["room_id"]
    return S["private_room"]


def expect_forbidden(method, path, body=None):
    try:
        peer.request(method, H, path, body)
        raise StepFailed(f"{method} {path} was answered for a room the peer is not in")
    except fed.RemoteError as e:
        check(e.status == 403, f"{method} {path}: {e.status} {e.body}, want 403")


@step
def serves_event():
    room, join = history_room()
    r = peer.request("GET", H, f"/_matrix/federation/v1/event/{q(join)}")
    check(verified(r.get("pdus"), room, "/event") == [join], f"/event answered {r}")
    check(r.get("origin") == H, f"/event origin {r.get('origin')}")


@step
def serves_state_ids_and_state():
    room, join = history_room()
    want = set(room.state_before[join].values())  # what send_join said the state before the join was
    r = peer.request("GET", H, f"/_matrix/federation/v1/state_ids/{q(room.room_id)}?event_id={q(join)}")
    check(set(r.get("pdu_ids", [])) >= want, f"/state_ids before the join lacks {want - set(r.get('pdu_ids', []))}")
    check(join not in r["pdu_ids"], "/state_ids is the state before the event, without it")
    r2 = peer.request("GET", H, f"/_matrix/federation/v1/state/{q(room.room_id)}?event_id={q(join)}")
    check(set(verified(r2.get("pdus"), room, "/state")) == set(r["pdu_ids"]), "/state and /state_ids disagree")
    chain = set(verified(r2.get("auth_chain"), room, "/state auth_chain")) if r2.get("auth_chain") else set()
    check(chain == set(r.get("auth_chain_ids", [])), "/state and /state_ids disagree on the auth chain")
    expect_forbidden("GET", f"/_matrix/federation/v1/state_ids/{q(private_room_id())}?event_id={q(join)}")


@step
def serves_event_auth():
    room, join = history_room()
    r = peer.request("GET", H, f"/_matrix/federation/v1/event_auth/{q(room.room_id)}/{q(join)}")
    got = set(verified(r.get("auth_chain"), room, "/event_auth"))
    check(set(room.events[join]["auth_events"]) <= got, f"/event_auth lacks the join's auth events: {got}")


@step
def serves_backfill():
    room, join = history_room()
    r = peer.request("GET", H, f"/_matrix/federation/v1/backfill/{q(room.room_id)}?v={q(join)}&limit=100")
    got = verified(r.get("pdus"), room, "/backfill")
    create = room.state[("m.room.create", "")]
    check(create in got and join in got, f"/backfill from the join to the start lacks the create event or the join: {got}")
    check(len(got) == len(set(got)), "/backfill repeats events")
    expect_forbidden("GET", f"/_matrix/federation/v1/backfill/{q(private_room_id())}?v={q(join)}&limit=10")


@step
def serves_missing_events():
    room, join = history_room()
    create = room.state[("m.room.create", "")]
    r = peer.request("POST", H, f"/_matrix/federation/v1/get_missing_events/{q(room.room_id)}",
                     {"earliest_events": [create], "latest_events": [join], "limit": 10, "min_depth": 0})
    got = verified(r.get("events"), room, "/get_missing_events")
    check(join not in got and create not in got, "/get_missing_events returns only events between, not the ends")
    check(room.events[join]["prev_events"][0] in got, "/get_missing_events lacks the join's prev_event")


@step
def serves_timestamp_to_event():
    room, join = history_room()
    ts = room.events[join]["origin_server_ts"]
    r = peer.request("GET", H, f"/_matrix/federation/v1/timestamp_to_event/{q(room.room_id)}?ts={ts + 1}&dir=b")
    check(r.get("event_id") in room.events and r.get("origin_server_ts", ts + 2) <= ts + 1,
          f"/timestamp_to_event answered {r}")


@step
def peer_joins_restricted_room():
    """A restricted room that allows members of hearth's v12 room: erin is one, hearth
    names alice in join_authorised_via_users_server and signs the join too."""
    uid, tok = alice()
    allowed, erin = need("hearth_room_12", "peer_joins_hearth_room_v12")
    r = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat", "room_version": "11",
             "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {
                 "join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": allowed.room_id}]}}]}, tok)
    room = peer.join_room(H, r["room_id"], erin)
    join = room.events[room.state[("m.room.member", erin)]]
    check(join["content"].get("join_authorised_via_users_server") == uid,
          f"the join names {join['content'].get('join_authorised_via_users_server')} as authorising")
    member = poll(lambda: _member(tok, r["room_id"], erin), "alice sees erin joined the restricted room")
    check(member.get("membership") == "join", f"erin's member event {member}")
    nobody = peer_user("ivan")
    try:
        peer.join_room(H, r["room_id"], nobody)
        raise StepFailed("a user in no allowed room joined the restricted room")
    except fed.RemoteError as e:
        check(e.status == 403, f"make_join for a user in no allowed room: {e.status} {e.body}, want 403")


@step
def peer_knocks():
    """The peer's user knocks on a knock room of hearth's: alice sees the knock."""
    _, tok = alice()
    r = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat", "room_version": "11",
             "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}]}, tok)
    hank = peer_user("hank")
    peer.knock_room(H, r["room_id"], hank)
    member = poll(lambda: _member(tok, r["room_id"], hank), "alice sees hank's knock")
    check(member.get("membership") == "knock", f"hank's member event {member}")


@step
def server_acl_shuts_the_peer_out():
    """alice denies the peer with m.room.server_acl: its next event and requests for the room are refused."""
    _, tok = alice()
    room, erin = need("hearth_room_10", "peer_joins_hearth_room_v10")
    acl = call("PUT", f"/_matrix/client/v3/rooms/{q(room.room_id)}/state/m.room.server_acl/",
               {"allow": ["*"], "deny": [peer.host], "allow_ip_literals": True}, tok)
    check(peer.wait_for(lambda: acl["event_id"] in room.events, WAIT), "the ACL event did not reach the peer")
    eid, pdu = peer.build_event(room, "m.room.message", erin, {"msgtype": "m.text", "body": "denied"})
    resp = peer.send(H, [pdu])
    res = resp.get("pdus", {}).get(eid)
    check(isinstance(res, dict) and "error" in res, f"/send answered {resp} for the denied server's event")
    check(client_event(tok, room.room_id, eid) is None, "alice sees the denied server's event")
    try:
        peer.request("GET", H, f"/_matrix/federation/v1/state_ids/{q(room.room_id)}?event_id={q(acl['event_id'])}")
        raise StepFailed("/state_ids answered a server the room's ACL denies")
    except fed.RemoteError as e:
        check(e.status == 403, f"/state_ids for a denied server: {e.status} {e.body}, want 403")


@step
def peer_leaves_hearth_room():
    _, tok = alice()
    room, erin = need("hearth_room_11", "peer_joins_hearth_room_v11")
    peer.leave_room(H, room, erin)
    member = poll(lambda: (_member(tok, room.room_id, erin) or {}).get("membership") == "leave",
                  f"alice sees {erin} left")
    check(member, "erin did not leave")


@step
def peer_invites_hearth():
    """An invite from the peer's room: hearth signs it, alice sees it and joins."""
    uid, tok = alice()
    room = peer.create_room("carol-" + SUFFIX, "11", join_rule="invite")
    peer.invite(H, room, creator(room), uid)

    def invited():
        r = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0"})
        return room.room_id in r.get("rooms", {}).get("invite", {})
    poll(invited, "alice's /sync shows the invite")
    call("POST", f"/_matrix/client/v3/join/{q(room.room_id)}", {}, tok, query={"server_name": peer.server_name})
    check(peer.wait_for(lambda: room.state.get(("m.room.member", uid)) and
                        room.events[room.state[("m.room.member", uid)]]["content"].get("membership") == "join", WAIT),
          "alice's join did not reach the peer")


def invited_and_joins(tok, room_id, user):
    got = peer.wait_for(lambda: [i for i in peer.invites if i[0] == room_id and i[2]["state_key"] == user], WAIT)
    check(got, f"no invite of {user} reached the peer")
    room = peer.join_room(H, room_id, user)
    member = poll(lambda: _member(tok, room_id, user), f"alice sees {user} joined")
    check(member.get("membership") == "join", f"{user}'s member event {member}")
    check(room.state.get(("m.room.member", user)), f"{user}'s join is not in the peer's view")


@step
def invite_from_hearth():
    """alice invites the peer's user with /invite; the peer signs it and joins."""
    _, tok = alice()
    frank = peer_user("frank")
    r = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, tok)
    call("POST", f"/_matrix/client/v3/rooms/{q(r['room_id'])}/invite", {"user_id": frank}, tok)
    invited_and_joins(tok, r["room_id"], frank)


@step
def create_room_invites_remote():
    """createRoom's invite list may name users of other servers."""
    _, tok = alice()
    gina = peer_user("gina")
    r = call("POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat", "invite": [gina]}, tok)
    invited_and_joins(tok, r["room_id"], gina)


@step
def peer_saw_only_valid_traffic():
    """Every request hearth made was X-Matrix-signed and every event it sent passed the checks."""
    check(peer.requests, "hearth made no authenticated request to the peer")
    origins = {o for _, _, o in peer.requests}
    check(origins == {H}, f"requests from {origins}")
    check(peer.received_pdus, "hearth sent no event to the peer")
    check(not peer.failures, f"failures: {peer.failures}")


def main():
    if args.list:
        print("\n".join(s.__name__ for s in STEPS))
        return 0
    only = [s for s in args.steps.split(",") if s]
    unknown = set(only) - {s.__name__ for s in STEPS}
    if unknown:
        print("unknown steps:", ", ".join(sorted(unknown)), file=sys.stderr)
        return 2
    peer.start()
    failed = 0
    try:
        for s in STEPS:
            if only and s.__name__ not in only:
                continue
            before = len(peer.failures)
            try:
                s()
                new = peer.failures[before:]
                if new:
                    raise StepFailed(f"the peer refused what hearth sent: {new}")
                print(f"ok   {s.__name__}", flush=True)
            except Exception as e:  # a step's failure is reported, the next step runs
                failed += 1
                detail = str(e) if isinstance(e, (StepFailed, HTTPFailure, fed.RemoteError, fed.Invalid)) \
                    else traceback.format_exc()
                print(f"FAIL {s.__name__}: {detail}", flush=True)
    finally:
        peer.stop()
    print(f"{failed} of {len(only) or len(STEPS)} steps failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
