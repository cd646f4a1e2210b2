"""Checks hearth's events with an independent implementation of the spec.

Run with Debian's interpreter and its python3-signedjson,
python3-canonicaljson, python3-unpaddedbase64 and python3-nacl:

    /usr/bin/python3 verify_events.py BASE_URL ADMIN_ACCESS_TOKEN

BASE_URL is a running `hearth serve` with open registration and rate limits
off; the token belongs to a server admin (GET /_hearth/admin/v1/events/...).

It checks the self-signature of /_matrix/key/v2/server, creates rooms in
versions 10, 11 and 12 (private_chat and public_chat, with a name, a topic,
an invite, a join, messages, redactions and state changes), gathers every
event of each room (/messages backwards, then prev_events and auth_events
until closed), fetches each one's PDU from the admin API and recomputes,
here and from the spec only: the content hash, the redaction of the room
version, the reference hash, the event ID, for version 12 the room ID, and
the ed25519 signature of the redacted event against the served key. The
redacted content a client sees must match this redaction too. Tampered
copies (a content byte, a kept field, a signature byte) must be rejected by
the same checks. Any mismatch raises and exits non-zero.
"""

import copy
import hashlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import canonicaljson
import signedjson.key
import signedjson.sign
import unpaddedbase64

BASE = sys.argv[1].rstrip("/")
ADMIN_TOKEN = sys.argv[2]
SUFFIX = format(int(time.time() * 1000), "x")
VERSIONS = ("10", "11", "12")
PRESETS = ("private_chat", "public_chat")


class Mismatch(Exception):
    """An event that an independent implementation does not accept."""


def step(name):
    print("--", name, flush=True)


# --- HTTP ---------------------------------------------------------------


class HTTPFailure(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


def call(method, path, body=None, token=None, query=None):
    url = BASE + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
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
    """Registers name through open registration (two-step UIA, m.login.dummy)."""
    body = {"username": name, "password": "pw-" + name}
    try:
        call("POST", "/_matrix/client/v3/register", body)
        raise AssertionError("register without auth should ask for user-interactive auth")
    except HTTPFailure as e:
        if e.status != 401:
            raise
        session = e.body["session"]
    body["auth"] = {"type": "m.login.dummy", "session": session}
    return call("POST", "/_matrix/client/v3/register", body)


# --- the spec, independently ---------------------------------------------


def b64(raw):
    return unpaddedbase64.encode_base64(raw)


def b64url(raw):
    return unpaddedbase64.encode_base64(raw, urlsafe=True)


def canonical(obj):
    return canonicaljson.encode_canonical_json(obj)


def content_hash(pdu):
    """server-server API, "Calculating the content hash for an event"."""
    stripped = {k: v for k, v in pdu.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(canonical(stripped)).digest()


# The top-level keys a redaction keeps (rooms/fragments/v9-redactions.md for
# versions 9 and 10, v11-redactions.md for versions 11 and 12).
TOP_V10 = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
    "signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
    "origin_server_ts", "membership",
}
TOP_V11 = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
    "signatures", "depth", "prev_events", "auth_events", "origin_server_ts",
}
# The content keys each event type keeps; None keeps them all.
CONTENT_V10 = {
    "m.room.member": {"membership", "join_authorised_via_users_server"},
    "m.room.create": {"creator"},
    "m.room.join_rules": {"join_rule", "allow"},
    "m.room.power_levels": {
        "ban", "events", "events_default", "kick", "redact", "state_default",
        "users", "users_default",
    },
    "m.room.history_visibility": {"history_visibility"},
}
CONTENT_V11 = {
    "m.room.member": {"membership", "join_authorised_via_users_server"},
    "m.room.create": None,
    "m.room.join_rules": {"join_rule", "allow"},
    "m.room.power_levels": {
        "ban", "events", "events_default", "invite", "kick", "redact",
        "state_default", "users", "users_default",
    },
    "m.room.history_visibility": {"history_visibility"},
    "m.room.redaction": {"redacts"},
}
RULES = {
    "10": (TOP_V10, CONTENT_V10, False),
    "11": (TOP_V11, CONTENT_V11, True),
    "12": (TOP_V11, CONTENT_V11, True),
}


def redact(pdu, version):
    """The redaction algorithm of the room version."""
    top, content_rules, third_party_signed = RULES[version]
    out = {k: copy.deepcopy(v) for k, v in pdu.items() if k in top}
    content = pdu.get("content", {})
    allowed = content_rules.get(pdu.get("type"), set())
    if allowed is None:
        kept = copy.deepcopy(content)
    else:
        kept = {k: copy.deepcopy(v) for k, v in content.items() if k in allowed}
    # v11: m.room.member keeps the signed key of third_party_invite.
    if third_party_signed and pdu.get("type") == "m.room.member":
        tpi = content.get("third_party_invite")
        if isinstance(tpi, dict) and "signed" in tpi:
            kept["third_party_invite"] = {"signed": copy.deepcopy(tpi["signed"])}
    if "content" in pdu:
        out["content"] = kept
    return out


def reference_hash(pdu, version):
    """server-server API, "Calculating the reference hash for an event"."""
    red = redact(pdu, version)
    red.pop("signatures", None)
    red.pop("unsigned", None)
    return hashlib.sha256(canonical(red)).digest()


def event_id_of(pdu, version):
    """Room versions 4 and later: $ + URL-safe unpadded base64 of the reference hash."""
    return "$" + b64url(reference_hash(pdu, version))


def check_event(event_id, pdu, version, server, keys):
    """Raises Mismatch unless pdu is a valid event event_id of this version."""
    # Content hash.
    hashes = pdu.get("hashes")
    if not isinstance(hashes, dict) or "sha256" not in hashes:
        raise Mismatch(f"{event_id}: no hashes.sha256")
    got = b64(content_hash(pdu))
    if got != hashes["sha256"]:
        raise Mismatch(f"{event_id}: content hash {got}, event says {hashes['sha256']}")
    # Event ID from the reference hash.
    computed = event_id_of(pdu, version)
    if computed != event_id:
        raise Mismatch(f"{event_id}: reference hash gives event ID {computed}")
    if "event_id" in pdu:
        raise Mismatch(f"{event_id}: a version {version} PDU carries event_id")
    # Signature of the sending server over the redacted event.
    sender_server = pdu["sender"].split(":", 1)[1]
    if sender_server != server:
        raise Mismatch(f"{event_id}: sender {pdu['sender']} is not on {server}")
    sigs = pdu.get("signatures", {}).get(server, {})
    if not sigs:
        raise Mismatch(f"{event_id}: not signed by {server}")
    checked = 0
    for key_id in sigs:
        if key_id not in keys:
            raise Mismatch(f"{event_id}: signed with {key_id}, not a served key")
        try:
            signedjson.sign.verify_signed_json(redact(pdu, version), server, keys[key_id])
        except signedjson.sign.SignatureVerifyException as e:
            raise Mismatch(f"{event_id}: signature {key_id}: {e}") from None
        checked += 1
    if checked == 0:
        raise Mismatch(f"{event_id}: no signature checked")


def expect_rejected(what, fn):
    try:
        fn()
    except Mismatch as e:
        print(f"   tampered ({what}) rejected: {e}", flush=True)
        return
    raise AssertionError(f"a tampered event ({what}) passed the checks")


def flip_char(s):
    """s with one character changed (stays a valid string of the same kind)."""
    c = s[0]
    return ("b" if c != "b" else "c") + s[1:]


# --- the server key ------------------------------------------------------


def fetch_keys():
    doc = call("GET", "/_matrix/key/v2/server")
    server = doc["server_name"]
    keys = {}
    for key_id, v in doc["verify_keys"].items():
        keys[key_id] = signedjson.key.decode_verify_key_bytes(key_id, unpaddedbase64.decode_base64(v["key"]))
    if not keys:
        raise Mismatch("no verify_keys served")
    if doc["valid_until_ts"] <= time.time() * 1000:
        raise Mismatch(f"valid_until_ts {doc['valid_until_ts']} is in the past")
    signed_by = doc.get("signatures", {}).get(server, {})
    for key_id, key in keys.items():
        if key_id not in signed_by:
            raise Mismatch(f"key document not signed with {key_id}")
        try:
            signedjson.sign.verify_signed_json(doc, server, key)
        except signedjson.sign.SignatureVerifyException as e:
            raise Mismatch(f"key document self-signature {key_id}: {e}") from None
    # The self-signature check can fail: a changed byte is refused.
    bad = copy.deepcopy(doc)
    bad["valid_until_ts"] += 1
    for key in keys.values():
        try:
            signedjson.sign.verify_signed_json(bad, server, key)
        except signedjson.sign.SignatureVerifyException:
            continue
        raise AssertionError("a tampered key document passed its self-signature check")
    return server, keys


# --- rooms ----------------------------------------------------------------


def build_room(alice, bob, version, preset):
    """Creates a room with a bit of everything and returns its ID."""
    tag = f"v{version} {preset}"
    room = call("POST", "/_matrix/client/v3/createRoom", {
        "room_version": version,
        "preset": preset,
        "name": f"verify {tag}",
        "topic": f"topic of {tag} \u00e9\u4e2d\U0001F600",
        "invite": [bob["user_id"]],
    }, alice["access_token"])["room_id"]
    at, bt = alice["access_token"], bob["access_token"]
    r = "/_matrix/client/v3/rooms/" + q(room)
    call("POST", r + "/join", {}, bt)
    txn = iter(range(1000))

    def send(token, content, typ="m.room.message"):
        return call("PUT", f"{r}/send/{typ}/t{next(txn)}", content, token)["event_id"]

    def state(token, typ, content, key=""):
        return call("PUT", f"{r}/state/{typ}/{q(key)}", content, token)["event_id"]

    first = send(at, {"msgtype": "m.text", "body": "first \u00fcml\u00e4ut \U0001F30D", "n": 9007199254740991})
    send(bt, {"msgtype": "m.text", "body": "hello from bob", "z": {"b": 1, "a": [True, None, -1]}})
    send(at, {"msgtype": "m.notice", "body": "quote \" backslash \\ tab \t nl \n ctl \u0001"})
    call("PUT", f"{r}/redact/{q(first)}/t{next(txn)}", {"reason": "tidy"}, at)
    state(at, "m.room.topic", {"topic": "changed topic"})
    pl = call("GET", f"{r}/state/m.room.power_levels/", token=at)
    pl.setdefault("users", {})[bob["user_id"]] = 50
    state(at, "m.room.power_levels", pl)
    state(at, "m.room.history_visibility", {"history_visibility": "joined"})
    # Bob changes his display name: a member event with more than the
    # redaction keeps; then it is redacted (membership must survive).
    bob_member = state(bt, "m.room.member", {"membership": "join", "displayname": "Bob " + tag}, bob["user_id"])
    call("PUT", f"{r}/redact/{q(bob_member)}/t{next(txn)}", {"reason": "member"}, at)
    # A custom state event, redacted.
    custom = state(at, "org.hearth.test", {"k": "v", "list": [1, 2, 3]}, "sk")
    call("PUT", f"{r}/redact/{q(custom)}/t{next(txn)}", {}, at)
    send(bt, {"msgtype": "m.text", "body": "last"})
    return room


def room_events(room, token):
    """Every event /messages shows, newest first, in client format."""
    events, frm = [], None
    for _ in range(100):
        query = {"dir": "b", "limit": "7"}
        if frm:
            query["from"] = frm
        page = call("GET", "/_matrix/client/v3/rooms/" + q(room) + "/messages", token=token, query=query)
        events.extend(page["chunk"])
        if "end" not in page or not page["chunk"]:
            return events
        frm = page["end"]
    raise AssertionError("/messages did not end after 100 pages")


def admin_event(event_id):
    return call("GET", "/_hearth/admin/v1/events/" + q(event_id), token=ADMIN_TOKEN)


def verify_room(room, version, client_events, server, keys):
    """Checks every event of room; returns how many."""
    seen = {}
    todo = [e["event_id"] for e in client_events]
    while todo:
        eid = todo.pop()
        if eid in seen:
            continue
        view = admin_event(eid)
        if view["event_id"] != eid:
            raise Mismatch(f"admin API answered {view['event_id']} for {eid}")
        if view["room_version"] != version:
            raise Mismatch(f"{eid}: room version {view['room_version']}, want {version}")
        if view.get("rejected") is not None or view.get("outlier") or view.get("soft_failed"):
            raise Mismatch(f"{eid}: a local event is rejected/outlier/soft-failed: {view}")
        pdu = view["pdu"]
        check_event(eid, pdu, version, server, keys)
        seen[eid] = pdu
        todo.extend(pdu.get("prev_events", []))
        todo.extend(pdu.get("auth_events", []))

    creates = [(eid, p) for eid, p in seen.items() if p["type"] == "m.room.create"]
    if len(creates) != 1:
        raise Mismatch(f"{room}: {len(creates)} create events reached")
    create_id, create = creates[0]
    if create["content"].get("room_version") != version:
        raise Mismatch(f"{room}: create event says version {create['content'].get('room_version')}")
    if version == "12":
        # Room version 12: the room ID is ! + the create event's reference
        # hash, and the create event has no room_id.
        want = "!" + b64url(reference_hash(create, version))
        if room != want:
            raise Mismatch(f"room ID {room}, create event's reference hash gives {want}")
        if "room_id" in create:
            raise Mismatch(f"{create_id}: a v12 create event carries room_id")
        for eid, p in seen.items():
            if create_id in p.get("auth_events", []):
                raise Mismatch(f"{eid}: v12 auth_events list the create event")
    else:
        if create.get("room_id") != room:
            raise Mismatch(f"{create_id}: room_id {create.get('room_id')}, want {room}")
    for eid, p in seen.items():
        if eid != create_id and p.get("room_id") != room:
            raise Mismatch(f"{eid}: room_id {p.get('room_id')}, want {room}")

    # What a client sees of a redacted event is this redaction's content.
    redacted = 0
    for e in client_events:
        if "redacted_because" in e.get("unsigned", {}):
            want = redact(seen[e["event_id"]], version)["content"]
            if e["content"] != want:
                raise Mismatch(f"{e['event_id']}: client sees redacted content {e['content']}, spec gives {want}")
            redacted += 1
    if redacted != 3:
        raise Mismatch(f"{room}: {redacted} redacted events seen, want 3")

    # The checks can fail: tampered copies are refused.
    msg_id, msg = next((i, p) for i, p in seen.items() if p["type"] == "m.room.message" and p["content"].get("body"))
    bad = copy.deepcopy(msg)
    bad["content"]["body"] = flip_char(bad["content"]["body"])
    expect_rejected("message body byte", lambda: check_event(msg_id, bad, version, server, keys))

    mem_id, mem = next((i, p) for i, p in seen.items() if p["type"] == "m.room.member")
    bad = copy.deepcopy(mem)
    bad["content"]["membership"] = "leave" if mem["content"]["membership"] != "leave" else "join"
    bad["hashes"]["sha256"] = b64(content_hash(bad))  # only the reference hash and signature can see it
    expect_rejected("membership, content hash recomputed", lambda: check_event(mem_id, bad, version, server, keys))
    # Same change, judged under its new event ID: the signature alone must fail.
    expect_rejected("membership, new event ID", lambda: check_event(event_id_of(bad, version), bad, version, server, keys))

    bad = copy.deepcopy(msg)
    sig_key = next(iter(bad["signatures"][server]))
    sig = bad["signatures"][server][sig_key]
    bad["signatures"][server][sig_key] = flip_char(sig)
    expect_rejected("signature byte", lambda: check_event(msg_id, bad, version, server, keys))
    return len(seen)


def self_test_redaction():
    """The redaction rules against hand-worked cases, so they can fail too."""
    ev = {
        "type": "m.room.member", "room_id": "!r:x", "sender": "@a:x", "state_key": "@a:x",
        "content": {"membership": "join", "displayname": "A",
                    "third_party_invite": {"signed": {"mxid": "@a:x"}, "display_name": "a"}},
        "origin": "x", "membership": "join", "prev_state": [], "unsigned": {"age": 1},
        "hashes": {"sha256": "h"}, "signatures": {}, "depth": 3, "prev_events": [],
        "auth_events": [], "origin_server_ts": 5, "other": 1,
    }
    v10 = redact(ev, "10")
    assert v10["content"] == {"membership": "join"}, v10
    assert {"origin", "membership", "prev_state"} <= v10.keys() and "other" not in v10 and "unsigned" not in v10, v10
    v11 = redact(ev, "11")
    assert v11["content"] == {"membership": "join", "third_party_invite": {"signed": {"mxid": "@a:x"}}}, v11
    assert not ({"origin", "membership", "prev_state", "other"} & v11.keys()), v11
    create = {"type": "m.room.create", "content": {"creator": "@a:x", "room_version": "10", "m.federate": True}}
    assert redact(create, "10")["content"] == {"creator": "@a:x"}
    assert redact(create, "11")["content"] == create["content"]
    red = {"type": "m.room.redaction", "redacts": "$e", "content": {"redacts": "$e", "reason": "r"}}
    assert redact(red, "10") == {"type": "m.room.redaction", "content": {}}
    assert redact(red, "12") == {"type": "m.room.redaction", "content": {"redacts": "$e"}}
    pl = {"type": "m.room.power_levels", "content": {"invite": 0, "ban": 50, "notifications": {"room": 50}}}
    assert redact(pl, "10")["content"] == {"ban": 50}
    assert redact(pl, "11")["content"] == {"invite": 0, "ban": 50}


def main():
    step("redaction rules against hand-worked cases")
    self_test_redaction()

    step("server key document and its self-signature")
    server, keys = fetch_keys()
    print(f"   {server}: {', '.join(sorted(keys))}")

    step("the admin event API refuses non-admins")
    alice = register(f"alice{SUFFIX}")
    bob = register(f"bob{SUFFIX}")
    try:
        admin_probe = call("GET", "/_hearth/admin/v1/events/" + q("$x"), token=alice["access_token"])
        raise AssertionError(f"a non-admin read the admin event API: {admin_probe}")
    except HTTPFailure as e:
        if e.status != 403 or e.body.get("errcode") != "M_FORBIDDEN":
            raise

    total = 0
    for version in VERSIONS:
        for preset in PRESETS:
            step(f"room version {version}, {preset}")
            room = build_room(alice, bob, version, preset)
            events = room_events(room, alice["access_token"])
            n = verify_room(room, version, events, server, keys)
            print(f"   {room}: {n} events verified ({len(events)} listed by /messages)")
            total += n
    print(f"all {total} events verified", flush=True)


if __name__ == "__main__":
    main()
