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

import base64
import copy
import hashlib
import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import canonicaljson
import signedjson.key
import signedjson.sign
import unpaddedbase64

MAX_PDU_BYTES = 65536
INT_MIN, INT_MAX = -(2**53) + 1, 2**53 - 1
SUPPORTED_VERSIONS = ("10", "11", "12")


class Invalid(Exception):
    """An event or request that the specification says to refuse."""


class RemoteError(Exception):
    """A federation request that did not answer 200."""

    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


# --- canonical JSON, hashes, redaction (appendices, rooms/v10..v12) -------


def b64(raw):
    return unpaddedbase64.encode_base64(raw)


def b64url(raw):
    return unpaddedbase64.encode_base64(raw, urlsafe=True)


def canonical(obj):
    return canonicaljson.encode_canonical_json(obj)


def check_canonical_values(value, path="event"):
    """Room versions 6+: only integers in [-(2**53)+1, 2**53-1], no floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, float):
        raise Invalid(f"{path} is a float ({value})")
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise Invalid(f"{path} = {value} is out of the canonical integer range")
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_canonical_values(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            check_canonical_values(v, f"{path}.{k}")
        return
    raise Invalid(f"{path} has a value of type {type(value).__name__}")


def content_hash(pdu):
    stripped = {k: v for k, v in pdu.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(canonical(stripped)).digest()


TOP_KEPT_V10 = frozenset((
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
    "signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
    "origin_server_ts", "membership",
))
TOP_KEPT_V11 = TOP_KEPT_V10 - {"origin", "membership", "prev_state"}
PL_KEYS = ("ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default")


def content_kept(event_type, version):
    """The content keys the redaction algorithm keeps; None keeps all."""
    v11 = version in ("11", "12")
    if event_type == "m.room.member":
        return {"membership", "join_authorised_via_users_server"}
    if event_type == "m.room.create":
        return None if v11 else {"creator"}
    if event_type == "m.room.join_rules":
        return {"join_rule", "allow"}
    if event_type == "m.room.power_levels":
        return set(PL_KEYS) | ({"invite"} if v11 else set())
    if event_type == "m.room.history_visibility":
        return {"history_visibility"}
    if event_type == "m.room.redaction" and v11:
        return {"redacts"}
    return set()


def redact(pdu, version):
    top = TOP_KEPT_V11 if version in ("11", "12") else TOP_KEPT_V10
    out = {k: copy.deepcopy(v) for k, v in pdu.items() if k in top}
    if "content" in pdu:
        content = pdu["content"] if isinstance(pdu["content"], dict) else {}
        kept = content_kept(pdu.get("type"), version)
        if kept is None:
            out["content"] = copy.deepcopy(content)
        else:
            out["content"] = {k: copy.deepcopy(v) for k, v in content.items() if k in kept}
        tpi = content.get("third_party_invite")
        if version in ("11", "12") and pdu.get("type") == "m.room.member" and isinstance(tpi, dict) and "signed" in tpi:
            out["content"]["third_party_invite"] = {"signed": copy.deepcopy(tpi["signed"])}
    return out


def reference_hash(pdu, version):
    red = redact(pdu, version)
    red.pop("signatures", None)
    red.pop("unsigned", None)
    return hashlib.sha256(canonical(red)).digest()


def event_id_of(pdu, version):
    return "$" + b64url(reference_hash(pdu, version))


def server_of(user_id):
    return user_id.split(":", 1)[1]


def is_state(pdu):
    return "state_key" in pdu


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


def parse_key_document(doc, server):
    """The verify keys of a /_matrix/key/v2/server answer, after its checks."""
    if doc.get("server_name") != server:
        raise Invalid(f"key document of {server} names {doc.get('server_name')!r}")
    if not isinstance(doc.get("valid_until_ts"), int) or doc["valid_until_ts"] <= time.time() * 1000:
        raise Invalid(f"key document of {server}: valid_until_ts {doc.get('valid_until_ts')!r} is not in the future")
    keys = {}
    for key_id, v in doc.get("verify_keys", {}).items():
        keys[key_id] = signedjson.key.decode_verify_key_bytes(key_id, unpaddedbase64.decode_base64(v["key"]))
    if not keys:
        raise Invalid(f"{server} serves no verify_keys")
    sigs = doc.get("signatures", {}).get(server, {})
    for key_id, key in keys.items():
        if key_id not in sigs:
            raise Invalid(f"key document of {server} is not signed by {key_id}")
        try:
            signedjson.sign.verify_signed_json(doc, server, key)
        except signedjson.sign.SignatureVerifyException as e:
            raise Invalid(f"key document of {server}: {e}") from None
    return keys


# --- X-Matrix ---------------------------------------------------------------

XMATRIX_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)=("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def parse_xmatrix(header):
    if not header or not header.startswith("X-Matrix "):
        raise Invalid(f"Authorization is not X-Matrix: {header!r}")
    rest = header[len("X-Matrix "):]
    params = {}
    pos = 0
    while pos < len(rest):
        m = XMATRIX_PARAM.match(rest, pos)
        if not m or m.end() == pos:
            raise Invalid(f"bad X-Matrix header: {header!r}")
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1).lower()] = value
        pos = m.end()
    for k in ("origin", "key", "sig"):
        if k not in params:
            raise Invalid(f"X-Matrix header without {k}: {header!r}")
    return params


def xmatrix_header(origin, destination, key, method, uri, content):
    req = {"method": method, "uri": uri, "origin": origin, "destination": destination}
    if content is not None:
        req["content"] = content
    signed = signedjson.sign.sign_json(req, origin, key)
    sig = signed["signatures"][origin][f"{key.alg}:{key.version}"]
    return f'X-Matrix origin="{origin}",destination="{destination}",key="{key.alg}:{key.version}",sig="{sig}"'


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
        return self.signing_key.verify_key

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
            self.fail(f"PDU from {origin} for a room we are not in: {str(pdu)[:200]}")
            return None, "unknown room"
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

    def events_in_state(self, room, state):
        return [room.events[eid] for eid in state.values()]


def quote(s):
    return urllib.parse.quote(s, safe="")


# --- the HTTP surface -------------------------------------------------------


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


def known_room(peer, room_id):
    room = peer.rooms.get(room_id)
    if room is None:
        raise KeyError(room_id)
    return room


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
    with peer.lock:
        for edu in body.get("edus", []):
            peer.received_edus.append(edu)
        peer.changed.notify_all()
    return 200, {"pdus": results}


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
    for ev in body.get("invite_room_state", []):
        if not isinstance(ev, dict) or "type" not in ev:
            raise Invalid(f"invite_room_state entry {ev}")
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
