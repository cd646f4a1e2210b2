"""The parts of the Matrix specification a federation peer needs, written
from the spec (server-server API, appendices, rooms/v10..v12) on Debian's
python3-signedjson, python3-canonicaljson and python3-unpaddedbase64:
canonical JSON checks, content and reference hashes, the redaction algorithm
of room versions 10, 11 and 12, server key documents and X-Matrix headers.
"""

import copy
import hashlib
import re
import time
import urllib.parse

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


def quote(s):
    return urllib.parse.quote(s, safe="")


PRESENCE_STATES = ("online", "unavailable", "offline")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def edu_shape_error(edu):
    """What is wrong with an m.presence or m.device_list_update EDU against the
    server-server API's schemas (None when nothing is, or for other EDU types)."""
    kind, content = edu.get("edu_type"), edu.get("content")
    if kind not in ("m.presence", "m.device_list_update"):
        return None
    if not isinstance(content, dict):
        return f"{kind} content is not an object"
    if kind == "m.presence":
        push = content.get("push")
        if not isinstance(push, list) or not push:
            return f"m.presence push {push!r} is not a non-empty list"
        for p in push:
            if not isinstance(p, dict):
                return f"m.presence push entry {p!r} is not an object"
            if not isinstance(p.get("user_id"), str) or p.get("presence") not in PRESENCE_STATES:
                return f"m.presence entry {p} lacks user_id or a valid presence"
            if not _is_int(p.get("last_active_ago")) or p["last_active_ago"] < 0:
                return f"m.presence entry {p} lacks a non-negative last_active_ago"
            if "currently_active" in p and not isinstance(p["currently_active"], bool):
                return f"m.presence entry {p} has a currently_active that is not a boolean"
            if "status_msg" in p and not isinstance(p["status_msg"], str):
                return f"m.presence entry {p} has a status_msg that is not a string"
        return None
    for k in ("user_id", "device_id"):
        if not isinstance(content.get(k), str) or not content[k]:
            return f"m.device_list_update without {k}: {content}"
    if not _is_int(content.get("stream_id")):
        return f"m.device_list_update stream_id {content.get('stream_id')!r} is not an integer"
    prev = content.get("prev_id", [])
    if not isinstance(prev, list) or not all(_is_int(p) for p in prev):
        return f"m.device_list_update prev_id {prev!r} is not a list of integers"
    if "deleted" in content and not isinstance(content["deleted"], bool):
        return f"m.device_list_update deleted {content['deleted']!r} is not a boolean"
    if "keys" in content and not isinstance(content["keys"], dict):
        return f"m.device_list_update keys {content['keys']!r} is not an object"
    if "device_display_name" in content and not isinstance(content["device_display_name"], str):
        return f"m.device_list_update device_display_name is not a string"
    return None
