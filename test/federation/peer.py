"""An independent Matrix federation peer, for testing hearth from outside.

Written from the server-server API and the room version specifications
only, on Debian's python3-signedjson, python3-canonicaljson, python3-nacl
and python3-unpaddedbase64 and the standard library (http.server, ssl,
http.client). It shares no code with hearth.

A Peer has its own server name (an IP literal with a port on loopback), its
own ed25519 key, and a TLS listener whose certificate a test CA signed. It

- serves /_matrix/key/v2/server and the federation endpoints another server
  needs to join its rooms, invite its users and send it transactions;
- verifies the X-Matrix signature of every inbound request (fetching the
  origin's key from the origin) and the hashes, event ID and signatures of
  every event it is sent, recording each failure in Peer.failures;
- signs every outbound request with X-Matrix, and builds and signs its own
  events (content hash, reference-hash event IDs, the redaction algorithm
  of room versions 10, 11 and 12).

It keeps one linear view of each room (no state resolution): enough for a
test that controls both sides.
"""

import hashlib
import http.client
import json
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

import signedjson.key
import signedjson.sign

from matrixspec import (  # noqa: F401  (re-exported for the tests)
    MAX_PDU_BYTES, SUPPORTED_VERSIONS, Invalid, RemoteError, b64, b64url, canonical, check_canonical_values,
    content_hash, event_id_of, is_state, parse_key_document, quote, redact, reference_hash, server_of,
    xmatrix_header,
)


# --- server keys ----------------------------------------------------------


class KeyRing:
    """Server keys fetched from each server directly and checked."""

    def __init__(self, peer):
        self.peer = peer
        self.keys = {}  # server -> {key_id: VerifyKey}
        self.lock = threading.Lock()

    def get(self, server, key_id):
        with self.lock:
            known = self.keys.get(server, {})
        if key_id in known:
            return known[key_id]
        doc = self.peer.request("GET", server, "/_matrix/key/v2/server", sign=False)
        keys = parse_key_document(doc, server)
        with self.lock:
            self.keys.setdefault(server, {}).update(keys)
        if key_id not in keys:
            raise Invalid(f"{server} does not serve key {key_id}")
        return keys[key_id]


# --- rooms ----------------------------------------------------------------


class Room:
    """One linear view of a room: its events, state after each, extremities."""

    def __init__(self, room_id, version):
        self.room_id = room_id
        self.version = version
        self.events = {}  # event_id -> pdu
        self.state = {}  # (type, state_key) -> event_id, current
        self.state_before = {}  # event_id -> state dict before it
        self.extremities = []
        self.depth = 0

    def add(self, event_id, pdu, outlier=False):
        self.events[event_id] = pdu
        if outlier:
            return
        self.state_before[event_id] = dict(self.state)
        if is_state(pdu):
            self.state[(pdu["type"], pdu["state_key"])] = event_id
        prevs = set(pdu.get("prev_events", []))
        self.extremities = [e for e in self.extremities if e not in prevs] + [event_id]
        self.depth = max(self.depth, pdu.get("depth", 0))

    def state_event(self, event_type, state_key=""):
        eid = self.state.get((event_type, state_key))
        return (eid, self.events[eid]) if eid else (None, None)

    def auth_chain(self, event_ids):
        seen, todo = set(), list(event_ids)
        while todo:
            eid = todo.pop()
            if eid in seen or eid not in self.events:
                continue
            seen.add(eid)
            todo.extend(self.events[eid].get("auth_events", []))
        return seen


# --- the peer -------------------------------------------------------------


class Peer:
    def __init__(self, host, port, cert_file, key_file, ca_file, key_version="p1"):
        self.host, self.port = host, port
        self.server_name = f"{host}:{port}"
        self.signing_key = signedjson.key.generate_signing_key(key_version)
        self.key_id = f"ed25519:{key_version}"
        self.cert_file, self.key_file = cert_file, key_file
        self.client_ctx = ssl.create_default_context(cafile=ca_file)
        self.keyring = KeyRing(self)
        self.rooms = {}
        self.lock = threading.RLock()
        self.failures = []  # what hearth sent that the spec refuses
        self.requests = []  # (method, path, origin) of every verified inbound request
        self.received_pdus = []  # (event_id, pdu) hearth sent and that passed the checks
        self.received_edus = []
        self.invites = []  # (room_id, event_id, pdu) hearth asked us to sign
        self.displaynames = {}
        self.txn = 0
        self.changed = threading.Condition(self.lock)
        self.httpd = None

    # --- lifecycle

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        peer = self

        from peer_http import PeerHandler

        class Handler(PeerHandler):
            pass

        Handler.peer = peer
        self.httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    def fail(self, what):
        with self.lock:
            self.failures.append(what)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=30):
        """Waits until predicate() (called under the lock) is true; returns its value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                v = predicate()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return v
                self.changed.wait(left)

    # --- outbound requests

    def request(self, method, destination, path, body=None, sign=True, origin=None, raw_body=None,
                key=None, headers=None):
        """A federation request to destination (an IP literal with a port); returns the JSON answer.

        raw_body sends exact bytes (for non-canonical JSON); origin and key
        override the X-Matrix origin and signing key (for forgeries).
        """
        host, port = destination.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=self.client_ctx, timeout=60)
        hdrs = {"Content-Type": "application/json"}
        if headers:
            hdrs.update(headers)
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        if sign:
            content = json.loads(raw_body) if raw_body is not None else body
            hdrs["Authorization"] = xmatrix_header(origin or self.server_name, destination,
                                                   key or self.signing_key, method, path, content)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        if resp.status != 200:
            raise RemoteError(method, path, resp.status, parsed)
        return parsed

    # --- checks of what others send

    def verify_pdu(self, pdu, version):
        """The checks of "Checks performed on receipt of a PDU" that do not need state; returns the event ID."""
        if not isinstance(pdu, dict):
            raise Invalid("PDU is not an object")
        if len(canonical(pdu)) > MAX_PDU_BYTES:
            raise Invalid(f"PDU is {len(canonical(pdu))} bytes")
        check_canonical_values(pdu)
        required = ["type", "sender", "content", "depth", "prev_events", "auth_events", "origin_server_ts",
                    "hashes", "signatures"]
        if not (version == "12" and pdu.get("type") == "m.room.create"):
            required.append("room_id")
        for k in required:
            if k not in pdu:
                raise Invalid(f"PDU has no {k}")
        if "event_id" in pdu:
            raise Invalid(f"a version {version} PDU carries event_id")
        event_id = event_id_of(pdu, version)
        want = pdu["hashes"].get("sha256")
        got = b64(content_hash(pdu))
        if want != got:
            raise Invalid(f"{event_id}: content hash {want}, computed {got}")
        servers = {server_of(pdu["sender"])}
        via = pdu.get("content", {}).get("join_authorised_via_users_server") if pdu["type"] == "m.room.member" else None
        if via:
            servers.add(server_of(via))
        for server in servers:
            self.verify_signed_by(redact(pdu, version), server, event_id)
        return event_id

    def verify_signed_by(self, obj, server, what):
        sigs = obj.get("signatures", {}).get(server, {})
        ed = [k for k in sigs if k.startswith("ed25519:")]
        if not ed:
            raise Invalid(f"{what}: not signed by {server}")
        for key_id in ed:
            key = self.our_key(key_id) if server == self.server_name else self.keyring.get(server, key_id)
            try:
                signedjson.sign.verify_signed_json(obj, server, key)
            except signedjson.sign.SignatureVerifyException as e:
                raise Invalid(f"{what}: signature of {server} {key_id}: {e}") from None

    def our_key(self, key_id):
        if key_id != self.key_id:
            raise Invalid(f"not our key: {key_id}")
        return signedjson.key.get_verify_key(self.signing_key)

    # --- events

    def finish_event(self, pdu, version):
        """Adds the content hash and our signature; returns (event_id, pdu)."""
        pdu.pop("hashes", None)
        pdu.pop("signatures", None)
        pdu["hashes"] = {"sha256": b64(content_hash(pdu))}
        signed = signedjson.sign.sign_json(redact(pdu, version), self.server_name, self.signing_key)
        pdu["signatures"] = signed["signatures"]
        return event_id_of(pdu, version), pdu

    def auth_events_for(self, room, event_type, sender, state_key=None, content=None):
        wanted = [("m.room.power_levels", ""), ("m.room.member", sender)]
        if room.version != "12":
            wanted.insert(0, ("m.room.create", ""))
        if event_type == "m.room.member":
            wanted.append(("m.room.member", state_key))
            if content and content.get("membership") in ("join", "invite", "knock"):
                wanted.append(("m.room.join_rules", ""))
        out = []
        for key in wanted:
            eid = room.state.get(key)
            if eid and eid not in out:
                out.append(eid)
        return out

    def build_event(self, room, event_type, sender, content, state_key=None, prev_events=None,
                    auth_events=None, depth=None, extra=None, add=True):
        """A new event of ours in room after its extremities; added to the room when add."""
        with self.lock:
            prevs = list(prev_events if prev_events is not None else room.extremities[-10:])
            pdu = {
                "type": event_type,
                "room_id": room.room_id,
                "sender": sender,
                "content": content,
                "origin_server_ts": int(time.time() * 1000),
                "depth": depth if depth is not None else max([room.events[p]["depth"] for p in prevs if p in room.events] + [0]) + 1,
                "prev_events": prevs,
                "auth_events": auth_events if auth_events is not None else self.auth_events_for(room, event_type, sender, state_key, content),
            }
            if room.version == "10":
                pdu["origin"] = self.server_name
            if state_key is not None:
                pdu["state_key"] = state_key
            if extra:
                pdu.update(extra)
            event_id, pdu = self.finish_event(pdu, room.version)
            if add:
                room.add(event_id, pdu)
            return event_id, pdu

    def create_room(self, creator_local, version="11", join_rule="public"):
        """A room of ours: create, creator's join, power levels, join rules, history visibility."""
        creator = f"@{creator_local}:{self.server_name}"
        if version == "12":
            create = {
                "type": "m.room.create", "sender": creator, "state_key": "",
                "content": {"room_version": version}, "origin_server_ts": int(time.time() * 1000),
                "depth": 1, "prev_events": [], "auth_events": [],
            }
            cid, create = self.finish_event(create, version)
            room_id = "!" + cid[1:]
        else:
            room_id = f"!{b64url(hashlib.sha256(str(time.time_ns()).encode()).digest())[:18]}:{self.server_name}"
        room = Room(room_id, version)
        with self.lock:
            self.rooms[room_id] = room
            if version == "12":
                room.add(cid, create)
            else:
                content = {"room_version": version}
                if version == "10":
                    content["creator"] = creator
                self.build_event(room, "m.room.create", creator, content, state_key="", prev_events=[], auth_events=[])
            self.build_event(room, "m.room.member", creator, {"membership": "join", "displayname": creator_local}, state_key=creator)
            users = {} if version == "12" else {creator: 100}
            self.build_event(room, "m.room.power_levels", creator, {
                "users": users, "users_default": 0, "events_default": 0, "state_default": 50,
                "ban": 50, "kick": 50, "redact": 50, "invite": 0, "events": {},
            }, state_key="")
            self.build_event(room, "m.room.join_rules", creator, {"join_rule": join_rule}, state_key="")
            self.build_event(room, "m.room.history_visibility", creator, {"history_visibility": "shared"}, state_key="")
        return room

    def join_room(self, destination, room_id, user_id):
        """Joins a room on destination with make_join and send_join v2; returns the Room."""
        q = "&".join("ver=" + v for v in SUPPORTED_VERSIONS)
        tmpl = self.request("GET", destination,
                            f"/_matrix/federation/v1/make_join/{quote(room_id)}/{quote(user_id)}?{q}")
        version = tmpl.get("room_version", "1")
        if version not in SUPPORTED_VERSIONS:
            raise Invalid(f"make_join offers room version {version}")
        pdu = tmpl["event"]
        if pdu.get("type") != "m.room.member" or pdu.get("state_key") != user_id or pdu.get("sender") != user_id:
            raise Invalid(f"make_join template is not our join: {pdu}")
        if pdu.get("content", {}).get("membership") != "join":
            raise Invalid(f"make_join template is not a join: {pdu}")
        pdu["origin_server_ts"] = int(time.time() * 1000)
        if version == "10":
            pdu["origin"] = self.server_name
        event_id, pdu = self.finish_event(pdu, version)
        resp = self.request("PUT", destination,
                            f"/_matrix/federation/v2/send_join/{quote(room_id)}/{quote(event_id)}", pdu)
        via = pdu.get("content", {}).get("join_authorised_via_users_server")
        if via:
            # A restricted join: the resident server signs it too and sends it back.
            signed = resp.get("event")
            if not isinstance(signed, dict) or self.verify_pdu(signed, version) != event_id:
                raise Invalid(f"send_join of a restricted join answered no event signed by {server_of(via)}")
            pdu = signed
        room = Room(room_id, version)
        auth_chain, state = resp.get("auth_chain", []), resp.get("state", [])
        if not state:
            raise Invalid("send_join answered no state")
        for ev in auth_chain + state:
            eid = self.verify_pdu(ev, version)
            room.events[eid] = ev
        for ev in state:
            eid = event_id_of(ev, version)
            room.state[(ev["type"], ev["state_key"])] = eid
            room.depth = max(room.depth, ev["depth"])
        for eid in room.events:  # every auth event of a state event must be in the auth chain
            for a in room.events[eid].get("auth_events", []):
                if a not in room.events:
                    raise Invalid(f"send_join: auth event {a} of {eid} is missing from the answer")
        with self.lock:
            room.add(event_id, pdu)
            self.rooms[room_id] = room
        return room

    def leave_room(self, destination, room, user_id):
        """Leaves a room on destination with make_leave and send_leave v2; returns the leave's event ID."""
        tmpl = self.request("GET", destination,
                            f"/_matrix/federation/v1/make_leave/{quote(room.room_id)}/{quote(user_id)}")
        if tmpl.get("room_version", "1") != room.version:
            raise Invalid(f"make_leave names room version {tmpl.get('room_version')}, the room is {room.version}")
        pdu = tmpl["event"]
        if pdu.get("type") != "m.room.member" or pdu.get("state_key") != user_id or \
                pdu.get("content", {}).get("membership") != "leave":
            raise Invalid(f"make_leave template is not our leave: {pdu}")
        pdu["origin_server_ts"] = int(time.time() * 1000)
        if room.version == "10":
            pdu["origin"] = self.server_name
        event_id, pdu = self.finish_event(pdu, room.version)
        self.request("PUT", destination,
                     f"/_matrix/federation/v2/send_leave/{quote(room.room_id)}/{quote(event_id)}", pdu)
        with self.lock:
            room.add(event_id, pdu)
        return event_id

    def knock_room(self, destination, room_id, user_id):
        """Knocks with make_knock and send_knock; returns (event_id, knock_room_state)."""
        q = "&".join("ver=" + v for v in SUPPORTED_VERSIONS)
        tmpl = self.request("GET", destination, f"/_matrix/federation/v1/make_knock/{quote(room_id)}/{quote(user_id)}?{q}")
        version = tmpl.get("room_version")
        pdu = tmpl["event"]
        if pdu.get("type") != "m.room.member" or pdu.get("state_key") != user_id or \
                pdu.get("content", {}).get("membership") != "knock":
            raise Invalid(f"make_knock template is not our knock: {pdu}")
        pdu["origin_server_ts"] = int(time.time() * 1000)
        if version == "10":
            pdu["origin"] = self.server_name
        event_id, pdu = self.finish_event(pdu, version)
        resp = self.request("PUT", destination,
                            f"/_matrix/federation/v1/send_knock/{quote(room_id)}/{quote(event_id)}", pdu)
        state = resp.get("knock_room_state")
        if not isinstance(state, list):
            raise Invalid(f"send_knock answered {resp}")
        # v1.16+: full PDUs of the room, the create event among them.
        for ev in state:
            self.verify_pdu(ev, version)
        if not any(ev.get("type") == "m.room.create" for ev in state):
            raise Invalid("knock_room_state has no m.room.create event")
        return event_id, state

    def invite(self, destination, room, sender, target):
        """Invites target (a user of destination) with PUT /v2/invite; returns the event signed by both."""
        eid, pdu = self.build_event(room, "m.room.member", sender, {"membership": "invite"}, state_key=target, add=False)
        # Since v1.16 the invite room state is full PDUs and holds the create event.
        stripped = [room.events[e] for e in (room.state.get(("m.room.create", "")),
                                             room.state.get(("m.room.join_rules", ""))) if e]
        resp = self.request("PUT", destination, f"/_matrix/federation/v2/invite/{quote(room.room_id)}/{quote(eid)}",
                            {"room_version": room.version, "event": pdu, "invite_room_state": stripped})
        signed = resp.get("event")
        if not isinstance(signed, dict):
            raise Invalid(f"invite answered {resp}")
        if self.verify_pdu(signed, room.version) != eid:
            raise Invalid("the invite came back as another event")
        self.verify_signed_by(redact(signed, room.version), destination, eid)
        self.verify_signed_by(redact(signed, room.version), self.server_name, eid)
        with self.lock:
            room.add(eid, signed)
        return eid, signed

    def send(self, destination, pdus=(), edus=(), origin=None, txn_id=None, raw_body=None, key=None,
             body_origin=None):
        """PUT /send/{txnId}; returns the answer (pdus map)."""
        with self.lock:
            self.txn += 1
            txn = txn_id or f"t{int(time.time() * 1000)}-{self.txn}"
        body = {
            "origin": body_origin or origin or self.server_name,
            "origin_server_ts": int(time.time() * 1000),
            "pdus": list(pdus),
        }
        if edus:
            body["edus"] = list(edus)
        return self.request("PUT", destination, f"/_matrix/federation/v1/send/{txn}", body,
                            origin=origin, raw_body=raw_body, key=key)

    # --- inbound

    def receive_pdu(self, pdu, origin):
        """Checks one PDU hearth sent; returns (event_id or None, error or None)."""
        room = self.rooms.get(pdu.get("room_id")) if isinstance(pdu, dict) else None
        if room is None:
            return self.receive_invite_copy(pdu, origin)
        try:
            event_id = self.verify_pdu(pdu, room.version)
        except Invalid as e:
            self.fail(f"PDU from {origin}: {e}")
            return None, str(e)
        with self.lock:
            if event_id not in room.events:
                room.add(event_id, pdu)
            self.received_pdus.append((event_id, pdu))
            self.changed.notify_all()
        return event_id, None

    def receive_invite_copy(self, pdu, origin):
        """A PDU of a room we are not in: the invite we were sent through /invite,
        sent again in a transaction, is harmless; any other event leaks the room."""
        invites = [i for i in self.invites if isinstance(pdu, dict) and i[0] == pdu.get("room_id")]
        for _, invite_id, _, version in invites:
            try:
                if self.verify_pdu(pdu, version) == invite_id:
                    with self.lock:
                        self.received_pdus.append((invite_id, pdu))
                        self.changed.notify_all()
                    return invite_id, None
            except Invalid as e:
                self.fail(f"PDU from {origin}: {e}")
                return None, str(e)
        what = "a room we are only invited to" if invites else "a room we are not in"
        self.fail(f"PDU from {origin} for {what}: {str(pdu)[:200]}")
        return None, "unknown room"
