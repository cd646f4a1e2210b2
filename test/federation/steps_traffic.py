"""peer_test.py's steps, part one: keys, request auth, queries, joins both ways,
messages, EDUs, to-device, device lists, backfill and gaps."""

from testkit import *  # noqa: F401,F403  (helpers, the peer, S, step)


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


@step
def hearth_joins_peer_room_v10():
    hearth_joins("10")


@step
def hearth_joins_peer_room_v11():
    hearth_joins("11")


@step
def hearth_joins_peer_room_v12():
    hearth_joins("12")


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


@step
def device_list_to_peer():
    """alice's new device, its new name and its logout reach the peer, which shares a room with
    her, as m.device_list_update EDUs (the last with deleted: true), whose stream_ids grow and
    whose prev_ids chain from the stream_id hearth's /user/devices answered, as the spec's
    device list protocol has it; /user/devices then answers the newest stream_id."""
    uid, tok = alice()
    need("peer_room_11", "hearth_joins_peer_room_v11")
    devices_path = f"/_matrix/federation/v1/user/devices/{q(uid)}"
    start = peer.request("GET", H, devices_path).get("stream_id")
    check(isinstance(start, int), f"/user/devices stream_id {start!r}")
    login = call("POST", "/_matrix/client/v3/login", {"type": "m.login.password", "password": "pw-alice" + SUFFIX,
                                                     "identifier": {"type": "m.id.user", "user": uid}})
    new_dev, new_tok = login["device_id"], login["access_token"]

    def updates():
        return [e["content"] for e in list(peer.received_edus) if e.get("edu_type") == "m.device_list_update"
                and e.get("content", {}).get("user_id") == uid and e["content"].get("device_id") == new_dev]

    check(peer.wait_for(lambda: len(updates()) >= 1, WAIT),
          f"no m.device_list_update for alice's new device {new_dev} reached the peer")
    name = "peer-visible " + SUFFIX
    call("PUT", f"/_matrix/client/v3/devices/{q(new_dev)}", {"display_name": name}, new_tok)
    check(peer.wait_for(lambda: any(u.get("device_display_name") == name for u in updates()), WAIT),
          f"the peer got no update naming {new_dev} {name!r}: {updates()}")
    call("POST", "/_matrix/client/v3/logout", {}, new_tok)
    check(peer.wait_for(lambda: any(u.get("deleted") is True for u in updates()), WAIT),
          f"the peer got no deleted update for {new_dev}: {updates()}")
    got = updates()
    check(len(got) == 3, f"want 3 updates for {new_dev} (login, rename, logout), got {got}")
    prev = start
    for u in got:
        check(isinstance(u.get("stream_id"), int) and u["stream_id"] > prev,
              f"stream_id {u.get('stream_id')!r} does not follow {prev}: {got}")
        check(u.get("prev_id") == ([prev] if prev else []), f"prev_id {u.get('prev_id')!r}, want [{prev}]: {got}")
        prev = u["stream_id"]
    check(not got[0].get("deleted") and not got[1].get("deleted"), f"a live device marked deleted: {got}")
    now = peer.request("GET", H, devices_path)
    check(now.get("stream_id") == prev, f"/user/devices stream_id {now.get('stream_id')}, want {prev}")
    check(all(d.get("device_id") != new_dev for d in now.get("devices", [])), f"{new_dev} still listed: {now}")


@step
def presence_to_peer():
    """alice's presence changes reach the peer, which shares a room with her, as m.presence EDUs
    in a transaction whose X-Matrix signature the peer checked, of the spec's shape (the peer's
    /send checks each, and peer_saw_only_valid_traffic reports any that failed): online with her
    status message and currently_active, then unavailable without it."""
    uid, tok = alice()
    need("peer_room_11", "hearth_joins_peer_room_v11")
    status = "at the peer's " + SUFFIX

    def pushes():
        return [p for e in list(peer.received_edus) if e.get("edu_type") == "m.presence"
                for p in e.get("content", {}).get("push", []) if isinstance(p, dict) and p.get("user_id") == uid]

    call("PUT", f"/_matrix/client/v3/presence/{q(uid)}/status", {"presence": "online", "status_msg": status}, tok)
    check(peer.wait_for(lambda: any(p.get("presence") == "online" and p.get("status_msg") == status for p in pushes()), WAIT),
          f"no m.presence with alice online and {status!r} reached the peer: {pushes()}")
    online = [p for p in pushes() if p.get("status_msg") == status][-1]
    check(online.get("currently_active") is True, f"online presence without currently_active: {online}")
    check(isinstance(online.get("last_active_ago"), int) and 0 <= online["last_active_ago"] < 60000,
          f"last_active_ago of a user active just now: {online}")
    call("PUT", f"/_matrix/client/v3/presence/{q(uid)}/status", {"presence": "unavailable"}, tok)
    check(peer.wait_for(lambda: any(p.get("presence") == "unavailable" for p in pushes()), WAIT),
          f"no m.presence with alice unavailable reached the peer: {pushes()}")
    away = [p for p in pushes() if p.get("presence") == "unavailable"][-1]
    check("status_msg" not in away and not away.get("currently_active"), f"unavailable presence {away}")
    check(not [f for f in peer.failures if "EDU" in f], f"the peer refused EDUs: {peer.failures}")


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
