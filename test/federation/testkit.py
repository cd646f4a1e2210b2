"""What the steps of peer_test.py share: the arguments, hearth's client API,
the peer under test, the state steps leave for later ones (S) and the step
registry (steps run in the order their modules register them)."""

import argparse
import json
import sys
import time
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


class HTTPFailure(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


host, port = args.listen.rsplit(":", 1) if args.listen else ("127.0.0.3", "0")
peer = fed.Peer(host, int(port), args.cert, args.key, args.ca)
S = {}  # what steps leave for later steps
STEPS = []


def check(cond, msg):
    if not cond:
        raise StepFailed(msg)


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


def hearth_joins(version):
    uid, tok = alice()
    room = peer.create_room("carol-" + SUFFIX, version)
    call("POST", f"/_matrix/client/v3/join/{q(room.room_id)}", {}, tok, query={"server_name": peer.server_name})
    joined = peer.wait_for(lambda: [p for _, p in peer.received_pdus if p["room_id"] == room.room_id
                                    and p["type"] == "m.room.member" and p["state_key"] == uid], WAIT)
    check(joined, "no join of alice reached the peer")
    S[f"peer_room_{version}"] = room
    return room


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


def peer_joins(version):
    uid, tok = alice()
    r = call("POST", "/_matrix/client/v3/createRoom",
             {"preset": "public_chat", "room_version": version, "name": f"hearth room v{version}"}, tok)
    room_id = r["room_id"]
    erin = peer_user("erin")
    room = peer.join_room(H, room_id, erin)
    member = poll(lambda: member_of(tok, room_id, erin), f"alice sees {erin} joined")
    check(member.get("membership") == "join", f"erin's member event {member}")
    S[f"hearth_room_{version}"] = (room, erin)


def member_of(tok, room_id, user_id):
    try:
        return call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.member/{q(user_id)}", token=tok)
    except HTTPFailure as e:
        if e.status in (403, 404):
            return None
        raise


def ephemeral(tok, room_id, edu_type):
    r = call("GET", "/_matrix/client/v3/sync", token=tok, query={"timeout": "0"})
    events = r.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral", {}).get("events", [])
    return [e for e in events if e.get("type") == edu_type]


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


def invited_and_joins(tok, room_id, user):
    got = peer.wait_for(lambda: [i for i in peer.invites if i[0] == room_id and i[2]["state_key"] == user], WAIT)
    check(got, f"no invite of {user} reached the peer")
    room = peer.join_room(H, room_id, user)
    member = poll(lambda: member_of(tok, room_id, user), f"alice sees {user} joined")
    check(member.get("membership") == "join", f"{user}'s member event {member}")
    check(room.state.get(("m.room.member", user)), f"{user}'s join is not in the peer's view")
