"""peer_test.py's steps, part two: refused events, the PDU layer's routes,
restricted joins, knocks, server ACLs, leaves and invites, and the peer's verdict."""

from testkit import *  # noqa: F401,F403  (helpers, the peer, S, step)


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
    member = poll(lambda: member_of(tok, r["room_id"], erin), "alice sees erin joined the restricted room")
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
    member = poll(lambda: member_of(tok, r["room_id"], hank), "alice sees hank's knock")
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
    member = poll(lambda: (member_of(tok, room.room_id, erin) or {}).get("membership") == "leave",
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
