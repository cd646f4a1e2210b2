"""The peer's HTTP surface: the federation endpoints another server calls,
each request's X-Matrix signature checked first (test/federation/peer.py
holds the peer itself)."""

import json
import re
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import signedjson.sign

from matrixspec import (
    SUPPORTED_VERSIONS, Invalid, RemoteError, b64, edu_shape_error, event_id_of, parse_xmatrix, redact, server_of,
)


class PeerHandler(BaseHTTPRequestHandler):
    peer = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def reply(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def error(self, status, errcode, msg):
        self.reply(status, {"errcode": errcode, "error": msg})

    def dispatch(self, method):
        peer = self.peer
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        params = urllib.parse.parse_qs(query)
        content = None
        if raw:
            try:
                content = json.loads(raw)
            except ValueError:
                peer.fail(f"{method} {self.path}: body is not JSON")
                return self.error(400, "M_NOT_JSON", "body is not JSON")
        if path.startswith("/_matrix/key/v2/server"):
            return self.reply(200, peer_key_document(peer))
        if path == "/_matrix/federation/v1/version":
            return self.reply(200, {"server": {"name": "hearth-test-peer", "version": "1"}})
        try:
            origin = self.verify_request(method, content)
        except Invalid as e:
            peer.fail(f"{method} {self.path}: {e}")
            return self.error(401, "M_UNAUTHORIZED", str(e))
        with peer.lock:
            peer.requests.append((method, path, origin))
        for m, pattern, fn in ROUTES:
            if m != method:
                continue
            match = pattern.fullmatch(path)
            if match:
                args = [urllib.parse.unquote(g) for g in match.groups()]
                try:
                    status, body = fn(peer, origin, params, content, *args)
                except Invalid as e:
                    peer.fail(f"{method} {self.path}: {e}")
                    status, body = 400, {"errcode": "M_BAD_JSON", "error": str(e)}
                except Exception as e:  # a bug of the peer: surface it
                    peer.fail(f"{method} {self.path}: peer error {type(e).__name__}: {e}")
                    status, body = 500, {"errcode": "M_UNKNOWN", "error": str(e)}
                return self.reply(status, body)
        self.error(404, "M_UNRECOGNIZED", f"the peer does not serve {method} {path}")

    def verify_request(self, method, content):
        """Checks the X-Matrix signature of this request; returns the origin."""
        peer = self.peer
        auth = self.headers.get_all("Authorization") or []
        if not auth:
            raise Invalid("no Authorization header")
        params = parse_xmatrix(auth[0])
        origin = params["origin"]
        dest = params.get("destination")
        if dest is None:
            raise Invalid("X-Matrix without destination (required since v1.3 and hearth sends it)")
        if dest != peer.server_name:
            raise Invalid(f"X-Matrix destination {dest!r} is not {peer.server_name}")
        req = {"method": method, "uri": self.path, "origin": origin, "destination": dest}
        if content is not None:
            req["content"] = content
        req["signatures"] = {origin: {params["key"]: params["sig"]}}
        try:
            key = peer.keyring.get(origin, params["key"])
        except (Invalid, RemoteError, OSError) as e:
            raise Invalid(f"key {params['key']} of {origin}: {e}") from None
        try:
            signedjson.sign.verify_signed_json(req, origin, key)
        except signedjson.sign.SignatureVerifyException as e:
            raise Invalid(f"X-Matrix signature of {origin}: {e}") from None
        return origin


def peer_key_document(peer):
    doc = {
        "server_name": peer.server_name,
        "valid_until_ts": int(time.time() * 1000) + 3600 * 1000,
        "verify_keys": {peer.key_id: {"key": b64(peer.signing_key.verify_key.encode())}},
        "old_verify_keys": {},
    }
    return signedjson.sign.sign_json(doc, peer.server_name, peer.signing_key)


def route(method, pattern):
    def deco(fn):
        ROUTES.append((method, re.compile(pattern), fn))
        return fn
    return deco


ROUTES = []
FED = "/_matrix/federation"


@route("PUT", FED + r"/v1/send/([^/]+)")
def on_send(peer, origin, params, body, txn_id):
    if not isinstance(body, dict):
        raise Invalid("transaction is not an object")
    if body.get("origin") != origin:
        raise Invalid(f"transaction origin {body.get('origin')!r} is not the X-Matrix origin {origin}")
    pdus = body.get("pdus", [])
    if len(pdus) > 50 or len(body.get("edus", [])) > 100:
        raise Invalid(f"transaction with {len(pdus)} PDUs and {len(body.get('edus', []))} EDUs")
    results = {}
    for pdu in pdus:
        event_id, err = peer.receive_pdu(pdu, origin)
        if event_id:
            results[event_id] = {}
        elif isinstance(pdu, dict) and pdu.get("room_id") in peer.rooms:
            results[event_id_of(pdu, peer.rooms[pdu["room_id"]].version)] = {"error": err}
    for edu in body.get("edus", []):
        shape = edu_shape_error(edu) if isinstance(edu, dict) else "an EDU that is not an object"
        if shape:
            peer.fail(f"EDU from {origin}: {shape}")
        for user in edu_users(edu):
            if ":" not in user or server_of(user) != origin:
                peer.fail(f"{edu.get('edu_type')} EDU from {origin} speaks for {user}")
    with peer.lock:
        peer.received_edus.extend(body.get("edus", []))
        peer.changed.notify_all()
    return 200, {"pdus": results}


def edu_users(edu):
    """The users an EDU speaks for: they must be the origin's."""
    content = edu.get("content") if isinstance(edu, dict) else None
    if not isinstance(content, dict):
        return []
    kind = edu.get("edu_type")
    if kind == "m.typing":
        return [content.get("user_id", "")]
    if kind == "m.receipt":
        return [u for rooms in content.values() if isinstance(rooms, dict)
                for users in rooms.values() if isinstance(users, dict) for u in users]
    if kind == "m.presence":
        return [p.get("user_id", "") for p in content.get("push", []) if isinstance(p, dict)]
    if kind in ("m.device_list_update", "m.signing_key_update"):
        return [content.get("user_id", "")]
    if kind == "m.direct_to_device":
        return [content.get("sender", "")]
    return []


@route("GET", FED + r"/v1/make_join/([^/]+)/([^/]+)")
def on_make_join(peer, origin, params, body, room_id, user_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    if server_of(user_id) != origin:
        return 403, {"errcode": "M_FORBIDDEN", "error": "user is not on the origin"}
    if room.version not in params.get("ver", ["1"]):
        return 400, {"errcode": "M_INCOMPATIBLE_ROOM_VERSION", "error": "unsupported", "room_version": room.version}
    with peer.lock:
        content = {"membership": "join"}
        tmpl = {
            "type": "m.room.member", "room_id": room_id, "sender": user_id, "state_key": user_id,
            "content": content, "origin_server_ts": int(time.time() * 1000),
            "depth": room.depth + 1, "prev_events": room.extremities[-10:],
            "auth_events": peer.auth_events_for(room, "m.room.member", user_id, user_id, content),
        }
        if room.version == "10":
            tmpl["origin"] = origin
    return 200, {"room_version": room.version, "event": tmpl}


@route("PUT", FED + r"/v2/send_join/([^/]+)/([^/]+)")
def on_send_join(peer, origin, params, pdu, room_id, event_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    got = peer.verify_pdu(pdu, room.version)
    if got != event_id:
        raise Invalid(f"send_join path names {event_id}, the event's reference hash gives {got}")
    if pdu.get("type") != "m.room.member" or pdu.get("content", {}).get("membership") != "join":
        raise Invalid("send_join of an event that is not a join")
    if server_of(pdu["sender"]) != origin or pdu.get("state_key") != pdu["sender"]:
        raise Invalid("send_join of a join that is not the origin's user's own")
    with peer.lock:
        state_before = dict(room.state)
        room.add(event_id, pdu)
        peer.received_pdus.append((event_id, pdu))
        peer.changed.notify_all()
        state = [room.events[e] for e in state_before.values()]
        chain = room.auth_chain([a for s in state for a in s.get("auth_events", [])] + pdu["auth_events"])
        return 200, {
            "origin": peer.server_name,
            "members_omitted": False,
            "state": state,
            "auth_chain": [room.events[e] for e in chain],
        }


@route("GET", FED + r"/v1/make_leave/([^/]+)/([^/]+)")
def on_make_leave(peer, origin, params, body, room_id, user_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    with peer.lock:
        content = {"membership": "leave"}
        tmpl = {
            "type": "m.room.member", "room_id": room_id, "sender": user_id, "state_key": user_id,
            "content": content, "origin_server_ts": int(time.time() * 1000),
            "depth": room.depth + 1, "prev_events": room.extremities[-10:],
            "auth_events": peer.auth_events_for(room, "m.room.member", user_id, user_id, content),
        }
        if room.version == "10":
            tmpl["origin"] = origin
    return 200, {"room_version": room.version, "event": tmpl}


@route("PUT", FED + r"/v2/send_leave/([^/]+)/([^/]+)")
def on_send_leave(peer, origin, params, pdu, room_id, event_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    if peer.verify_pdu(pdu, room.version) != event_id:
        raise Invalid("send_leave: event ID does not match")
    with peer.lock:
        room.add(event_id, pdu)
        peer.received_pdus.append((event_id, pdu))
        peer.changed.notify_all()
    return 200, {}


@route("PUT", FED + r"/v2/invite/([^/]+)/([^/]+)")
def on_invite(peer, origin, params, body, room_id, event_id):
    version = body.get("room_version")
    if version not in SUPPORTED_VERSIONS:
        return 400, {"errcode": "M_INCOMPATIBLE_ROOM_VERSION", "error": "unsupported", "room_version": version}
    pdu = body["event"]
    got = peer.verify_pdu(pdu, version)
    if got != event_id:
        raise Invalid(f"invite path names {event_id}, the event's reference hash gives {got}")
    if pdu.get("content", {}).get("membership") != "invite" or server_of(pdu.get("state_key", "")) != peer.server_name:
        raise Invalid("invite of something that is not an invite of our user")
    # v1.16+: the invite room state is full PDUs of the room, the create event among them.
    state = body.get("invite_room_state", [])
    for ev in state:
        peer.verify_pdu(ev, version)
        if version == "12" and ev.get("type") == "m.room.create":
            in_room = event_id_of(ev, version)[1:] == room_id[1:]  # the room ID is the create event's hash
        else:
            in_room = ev.get("room_id") == room_id
        if not in_room:
            raise Invalid(f"invite_room_state entry of another room: {ev}")
    if not any(ev.get("type") == "m.room.create" for ev in state):
        raise Invalid("invite_room_state has no m.room.create event")
    signed = signedjson.sign.sign_json(redact(pdu, version), peer.server_name, peer.signing_key)
    pdu = dict(pdu)
    pdu["signatures"] = signed["signatures"]
    with peer.lock:
        peer.invites.append((room_id, event_id, pdu, version))
        peer.changed.notify_all()
    return 200, {"event": pdu}


@route("GET", FED + r"/v1/event/([^/]+)")
def on_event(peer, origin, params, body, event_id):
    for room in peer.rooms.values():
        if event_id in room.events:
            return 200, {"origin": peer.server_name, "origin_server_ts": int(time.time() * 1000),
                         "pdus": [room.events[event_id]]}
    return 404, {"errcode": "M_NOT_FOUND", "error": "unknown event"}


@route("GET", FED + r"/v1/state_ids/([^/]+)")
def on_state_ids(peer, origin, params, body, room_id):
    room = peer.rooms.get(room_id)
    event_id = params.get("event_id", [None])[0]
    if room is None or event_id not in room.state_before:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room or event"}
    state = room.state_before[event_id]
    chain = room.auth_chain([a for s in state.values() for a in room.events[s].get("auth_events", [])])
    return 200, {"pdu_ids": list(state.values()), "auth_chain_ids": list(chain)}


@route("GET", FED + r"/v1/state/([^/]+)")
def on_state(peer, origin, params, body, room_id):
    status, ids = on_state_ids(peer, origin, params, body, room_id)
    if status != 200:
        return status, ids
    room = peer.rooms[room_id]
    return 200, {"pdus": [room.events[e] for e in ids["pdu_ids"]],
                 "auth_chain": [room.events[e] for e in ids["auth_chain_ids"]]}


@route("GET", FED + r"/v1/event_auth/([^/]+)/([^/]+)")
def on_event_auth(peer, origin, params, body, room_id, event_id):
    room = peer.rooms.get(room_id)
    if room is None or event_id not in room.events:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room or event"}
    chain = room.auth_chain(room.events[event_id].get("auth_events", []))
    return 200, {"auth_chain": [room.events[e] for e in chain]}


@route("POST", FED + r"/v1/get_missing_events/([^/]+)")
def on_get_missing_events(peer, origin, params, body, room_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    limit = min(int(body.get("limit", 10)), 100)
    earliest = set(body.get("earliest_events", []))
    out, seen = [], set(earliest)
    frontier = [p for e in body.get("latest_events", []) if e in room.events for p in room.events[e]["prev_events"]]
    while frontier and len(out) < limit:
        eid = frontier.pop(0)
        if eid in seen or eid not in room.events:
            continue
        seen.add(eid)
        out.append(room.events[eid])
        frontier.extend(room.events[eid]["prev_events"])
    out.sort(key=lambda e: e["depth"])
    return 200, {"events": out}


@route("GET", FED + r"/v1/backfill/([^/]+)")
def on_backfill(peer, origin, params, body, room_id):
    room = peer.rooms.get(room_id)
    if room is None:
        return 404, {"errcode": "M_NOT_FOUND", "error": "unknown room"}
    limit = min(int(params.get("limit", ["10"])[0]), 100)
    out, seen, frontier = [], set(), list(params.get("v", []))
    while frontier and len(out) < limit:
        eid = frontier.pop(0)
        if eid in seen or eid not in room.events:
            continue
        seen.add(eid)
        out.append(room.events[eid])
        frontier.extend(room.events[eid]["prev_events"])
    return 200, {"origin": peer.server_name, "origin_server_ts": int(time.time() * 1000), "pdus": out}


@route("GET", FED + r"/v1/query/profile")
def on_query_profile(peer, origin, params, body):
    user_id = params.get("user_id", [""])[0]
    if ":" not in user_id or server_of(user_id) != peer.server_name:
        return 404, {"errcode": "M_NOT_FOUND", "error": "not our user"}
    prof = {"displayname": peer.displaynames.get(user_id, user_id.split(":")[0][1:])}
    field = params.get("field", [None])[0]
    if field is None:
        return 200, prof
    return 200, {field: prof[field]} if field in prof else {}


@route("GET", FED + r"/v1/query/directory")
def on_query_directory(peer, origin, params, body):
    return 404, {"errcode": "M_NOT_FOUND", "error": "no aliases here"}


@route("GET", FED + r"/v1/publicRooms")
def on_public_rooms(peer, origin, params, body):
    return 200, {"chunk": [], "total_room_count_estimate": 0}


@route("GET", FED + r"/v1/user/devices/([^/]+)")
def on_user_devices(peer, origin, params, body, user_id):
    return 200, {"user_id": user_id, "stream_id": 0, "devices": []}


@route("POST", FED + r"/v1/user/keys/query")
def on_keys_query(peer, origin, params, body):
    return 200, {"device_keys": {u: {} for u in (body or {}).get("device_keys", {})}}
