"""matrix-nio (Debian's python3-matrix-nio 0.20, r0 paths only) driving hearth.

Run with Debian's interpreter: /usr/bin/python3 nio_scenario.py BASE_URL
Every step checks what it gets back; a mismatch raises and exits non-zero.
"""

import asyncio
import io
import sys
import time

import nio
import nio.responses

BASE = sys.argv[1]
SUFFIX = format(int(time.time() * 1000), "x")


def step(name):
    print("--", name, flush=True)


def ok(resp, kind):
    if not isinstance(resp, kind):
        raise AssertionError(f"expected {kind.__name__}, got {type(resp).__name__}: {resp}")
    return resp


async def raw(client, method, path, body=None):
    """An authenticated request nio has no (crypto-free) method for."""
    resp = await client.send(
        method,
        "/_matrix/client/r0" + path,
        nio.Api.to_json(body) if body is not None else None,
        headers={"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"},
    )
    data = await resp.json()
    if resp.status != 200:
        raise AssertionError(f"{method} {path}: {resp.status} {data}")
    return data


async def sync_until(client, pred, what, since=None, tries=20):
    for _ in range(tries):
        resp = ok(await client.sync(timeout=1000, since=since or client.next_batch, full_state=False), nio.SyncResponse)
        if pred(resp):
            return resp
    raise AssertionError(f"sync never showed {what}")


async def main():
    alice = nio.AsyncClient(BASE, f"alice{SUFFIX}")
    bob = nio.AsyncClient(BASE, f"bob{SUFFIX}")
    try:
        step("register (one-request m.login.dummy) and login")
        for c, name in ((alice, "alice"), (bob, "bob")):
            r = ok(await c.register(f"{name}{SUFFIX}", f"pw-{name}", device_name="nio"), nio.RegisterResponse)
            assert r.user_id == f"@{name}{SUFFIX}:localhost", r.user_id
            ok(await c.login(f"pw-{name}", device_name="nio-login"), nio.LoginResponse)
        who = ok(await alice.whoami(), nio.responses.WhoamiResponse)
        assert who.user_id == alice.user_id

        step("create room, invite, join")
        room = ok(await alice.room_create(name="nio room", topic="nio topic", invite=[bob.user_id]), nio.RoomCreateResponse)
        room_id = room.room_id
        await sync_until(bob, lambda s: room_id in s.rooms.invite, "the invite", since="")
        ok(await bob.join(room_id), nio.JoinResponse)
        jr = ok(await bob.joined_rooms(), nio.JoinedRoomsResponse)
        assert room_id in jr.rooms
        jm = ok(await alice.joined_members(room_id), nio.JoinedMembersResponse)
        assert sorted(m.user_id for m in jm.members) == sorted([alice.user_id, bob.user_id])

        step("send and sync")
        sent = []
        for i in range(15):
            r = ok(await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"nio {i}"}), nio.RoomSendResponse)
            sent.append(r.event_id)
        s = await sync_until(
            bob,
            lambda s: room_id in s.rooms.join and any(e.event_id == sent[-1] for e in s.rooms.join[room_id].timeline.events),
            "the last message",
        )

        step("paginate with room_messages")
        seen, token = [], s.rooms.join[room_id].timeline.prev_batch
        # prev_batch points before the returned timeline; start from the live end instead.
        token = s.next_batch
        while True:
            page = ok(await bob.room_messages(room_id, token, limit=4), nio.RoomMessagesResponse)
            seen += [e.event_id for e in page.chunk if isinstance(e, nio.RoomMessageText)]
            if not page.end or not page.chunk:
                break
            token = page.end
        assert list(reversed(seen)) == sent, (seen, sent)

        step("state")
        ok(await alice.room_put_state(room_id, "m.room.topic", {"topic": "changed by nio"}), nio.RoomPutStateResponse)
        st = ok(await bob.room_get_state_event(room_id, "m.room.topic"), nio.RoomGetStateEventResponse)
        assert st.content["topic"] == "changed by nio", st.content

        step("profile")
        ok(await alice.set_displayname("Alice N"), nio.ProfileSetDisplayNameResponse)
        dn = ok(await bob.get_displayname(alice.user_id), nio.ProfileGetDisplayNameResponse)
        assert dn.displayname == "Alice N"

        step("typing and receipts")
        ok(await alice.room_typing(room_id, True, 10000), nio.RoomTypingResponse)
        await sync_until(
            bob,
            lambda s: room_id in s.rooms.join
            and any(isinstance(e, nio.TypingNoticeEvent) and alice.user_id in e.users for e in s.rooms.join[room_id].ephemeral),
            "alice typing",
        )
        ok(await bob.room_read_markers(room_id, sent[-1], sent[-1]), nio.RoomReadMarkersResponse)
        await sync_until(
            alice,
            lambda s: room_id in s.rooms.join
            and any(isinstance(e, nio.ReceiptEvent) for e in s.rooms.join[room_id].ephemeral),
            "bob's receipt",
            since="",
        )

        step("to-device")
        # nio 0.20 drops to-device types it does not know, so send one it parses.
        msg = nio.ToDeviceMessage("m.key.verification.cancel", bob.user_id, bob.device_id,
                                  {"transaction_id": "hearth-t1", "code": "m.user", "reason": "hearth test"})
        ok(await alice.to_device(msg), nio.ToDeviceResponse)
        await sync_until(
            bob,
            lambda s: any(isinstance(e, nio.KeyVerificationCancel) and e.transaction_id == "hearth-t1" and e.sender == alice.user_id
                          for e in s.to_device_events),
            "the to-device message",
        )

        step("keys upload / query / claim (raw)")
        dev = bob.device_id
        up = await raw(bob, "POST", "/keys/upload", {
            "device_keys": {"user_id": bob.user_id, "device_id": dev,
                            "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
                            "keys": {f"ed25519:{dev}": "ed", f"curve25519:{dev}": "cu"}, "signatures": {}},
            "one_time_keys": {"signed_curve25519:AAAAAg": {"key": "otk", "signatures": {}}},
        })
        assert up["one_time_key_counts"]["signed_curve25519"] == 1, up
        q = await raw(alice, "POST", "/keys/query", {"device_keys": {bob.user_id: []}})
        assert q["device_keys"][bob.user_id][dev]["keys"][f"ed25519:{dev}"] == "ed", q
        c = await raw(alice, "POST", "/keys/claim", {"one_time_keys": {bob.user_id: {dev: "signed_curve25519"}}})
        assert list(c["one_time_keys"][bob.user_id][dev].values())[0]["key"] == "otk", c

        step("media upload / legacy r0 download")
        data = f"nio media {SUFFIX}".encode()
        up, _ = await alice.upload(lambda *_: io.BytesIO(data), content_type="text/plain", filename="n.txt", filesize=len(data))
        up = ok(up, nio.UploadResponse)
        server, media_id = up.content_uri[len("mxc://"):].split("/", 1)
        dl = ok(await bob.download(server, media_id), nio.DownloadResponse)
        assert dl.body == data, dl.body

        step("redaction")
        ok(await alice.room_redact(room_id, sent[0], reason="test"), nio.RoomRedactResponse)
        ev = ok(await bob.room_get_event(room_id, sent[0]), nio.RoomGetEventResponse)
        assert isinstance(ev.event, nio.RedactedEvent), ev.event

        step("leave and logout")
        ok(await bob.room_leave(room_id), nio.RoomLeaveResponse)
        jr = ok(await bob.joined_rooms(), nio.JoinedRoomsResponse)
        assert room_id not in jr.rooms
        ok(await bob.logout(), nio.LogoutResponse)
        ok(await alice.logout(), nio.LogoutResponse)
        print("nio scenario passed", flush=True)
    finally:
        await alice.close()
        await bob.close()


asyncio.run(main())
