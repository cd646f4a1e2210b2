// A matrix-js-sdk client driving hearth through the whole client-server
// surface a chat app uses. Every step asserts what it gets back; any
// mismatch throws and the script exits non-zero.
//
//   node test/clients/jssdk.mjs http://127.0.0.1:8008
import assert from "node:assert/strict";

// matrix-js-sdk 37 expects Promise.withResolvers (Node 22); Node 20 lacks it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const sdk = await import("matrix-js-sdk");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel?.("warn");

const baseUrl = process.argv[2];
assert.ok(baseUrl, "usage: jssdk.mjs BASE_URL");
const suffix = Date.now().toString(36);

function step(name) {
  console.log(`-- ${name}`);
}

async function waitFor(fn, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Registers with the two-step user-interactive flow.
async function register(name) {
  const c = sdk.createClient({ baseUrl });
  let session;
  try {
    await c.registerRequest({ username: name, password: "pw-" + name });
    assert.fail("register without auth should ask for user-interactive auth");
  } catch (e) {
    assert.equal(e.httpStatus, 401, `register stage 1: ${e}`);
    session = e.data.session;
    assert.ok(session, "401 carries a UIA session");
    assert.ok(e.data.flows.some((f) => f.stages.includes("m.login.dummy")), "dummy flow offered");
  }
  const res = await c.registerRequest({ username: name, password: "pw-" + name, auth: { type: "m.login.dummy", session } });
  assert.equal(res.user_id, `@${name}:localhost`);
  assert.ok(res.access_token && res.device_id);
  return res;
}

async function login(name) {
  const c = sdk.createClient({ baseUrl });
  const res = await c.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: name }, password: "pw-" + name });
  return sdk.createClient({ baseUrl, userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id });
}

step("versions");
const anon = sdk.createClient({ baseUrl });
const versions = await anon.getVersions();
assert.ok(versions.versions.includes("v1.1"));

step("register alice and bob (two-step UIA), login");
const aliceName = "alice" + suffix, bobName = "bob" + suffix;
await register(aliceName);
await register(bobName);
const alice = await login(aliceName);
const bob = await login(bobName);
const who = await alice.whoami();
assert.equal(who.user_id, alice.getUserId());

step("create room, invite, join");
const { room_id: roomId } = await alice.createRoom({ name: "Hearth test", topic: "first topic", preset: "private_chat" });
await alice.invite(roomId, bob.getUserId());
await bob.joinRoom(roomId);
const joined = await bob.getJoinedRooms();
assert.ok(joined.joined_rooms.includes(roomId));
const members = await alice.getJoinedRoomMembers(roomId);
assert.deepEqual(Object.keys(members.joined).sort(), [alice.getUserId(), bob.getUserId()].sort());

step("send 30 messages");
const sent = [];
for (let i = 0; i < 30; i++) {
  const r = await alice.sendTextMessage(roomId, `message ${i}`);
  assert.match(r.event_id, /^\$/);
  sent.push(r.event_id);
}

step("sync: bob sees the room and the latest messages");
bob.startClient({ initialSyncLimit: 10 });
await waitFor(() => bob.getSyncState() === "PREPARED" || bob.getSyncState() === "SYNCING", "bob's first sync");
const bobRoom = await waitFor(() => bob.getRoom(roomId), "room in bob's store");
await waitFor(() => bobRoom.getLiveTimeline().getEvents().some((e) => e.getId() === sent[29]), "last message in bob's timeline");
assert.equal(bobRoom.name, "Hearth test");

step("paginate the whole room with /messages, no gaps, no repeats");
const seen = [];
let from = null;
for (;;) {
  const page = await bob.createMessagesRequest(roomId, from, 7, "b");
  for (const ev of page.chunk) if (ev.type === "m.room.message") seen.push(ev.event_id);
  if (!page.end) break;
  from = page.end;
}
assert.deepEqual(seen.slice().reverse(), sent, "messages paginated backwards in order, each once");

step("live: a new message reaches bob's running sync");
const live = await alice.sendTextMessage(roomId, "live one");
await waitFor(() => bobRoom.getLiveTimeline().getEvents().some((e) => e.getId() === live.event_id), "live message");

step("state");
await alice.setRoomTopic(roomId, "second topic");
const topic = await bob.getStateEvent(roomId, "m.room.topic", "");
assert.equal(topic.topic, "second topic");

step("profile");
await alice.setDisplayName("Alice Liddell");
const prof = await bob.getProfileInfo(alice.getUserId());
assert.equal(prof.displayname, "Alice Liddell");

step("typing");
await alice.sendTyping(roomId, true, 10000);
await waitFor(() => bobRoom.getMember(alice.getUserId())?.typing, "alice typing seen by bob");

step("receipts");
await bob.sendReceipt(bobRoom.findEventById(live.event_id), "m.read");
await alice.startClient({ initialSyncLimit: 5 });
const aliceRoom = await waitFor(() => alice.getRoom(roomId), "room in alice's store");
await waitFor(() => aliceRoom.getReadReceiptForUserId(bob.getUserId())?.eventId === live.event_id, "bob's receipt seen by alice");

step("to-device");
const gotToDevice = new Promise((resolve) => bob.on("toDeviceEvent", (ev) => {
  if (ev.getType() === "org.hearth.test") resolve(ev.getContent());
}));
await alice.queueToDevice({
  eventType: "org.hearth.test",
  batch: [{ userId: bob.getUserId(), deviceId: bob.getDeviceId(), payload: { hello: "bob" } }],
});
assert.deepEqual(await gotToDevice, { hello: "bob" });

step("keys upload / query / claim");
const deviceKeys = {
  user_id: bob.getUserId(), device_id: bob.getDeviceId(),
  algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
  keys: { [`curve25519:${bob.getDeviceId()}`]: "curvekeybase64", [`ed25519:${bob.getDeviceId()}`]: "edkeybase64" },
  signatures: { [bob.getUserId()]: { [`ed25519:${bob.getDeviceId()}`]: "sig" } },
};
const up = await bob.http.authedRequest("POST", "/keys/upload", undefined, {
  device_keys: deviceKeys,
  one_time_keys: { "signed_curve25519:AAAAAQ": { key: "otk1", signatures: {} } },
});
assert.equal(up.one_time_key_counts.signed_curve25519, 1);
const q = await alice.http.authedRequest("POST", "/keys/query", undefined, { device_keys: { [bob.getUserId()]: [] } });
assert.equal(q.device_keys[bob.getUserId()][bob.getDeviceId()].keys[`ed25519:${bob.getDeviceId()}`], "edkeybase64");
const cl = await alice.http.authedRequest("POST", "/keys/claim", undefined, {
  one_time_keys: { [bob.getUserId()]: { [bob.getDeviceId()]: "signed_curve25519" } },
});
assert.deepEqual(Object.values(cl.one_time_keys[bob.getUserId()][bob.getDeviceId()])[0].key, "otk1");

step("media upload / download");
const bytes = new TextEncoder().encode("hello media " + suffix);
const upl = await alice.uploadContent(new Blob([bytes], { type: "text/plain" }), { name: "hello.txt", type: "text/plain" });
assert.match(upl.content_uri, /^mxc:\/\/localhost\//);
const dl = await fetch(`${baseUrl}/_matrix/client/v1/media/download/${upl.content_uri.slice(6)}`, {
  headers: { Authorization: `Bearer ${bob.getAccessToken()}` },
});
assert.equal(dl.status, 200);
assert.equal(await dl.text(), "hello media " + suffix);

step("redaction");
await alice.redactEvent(roomId, sent[0]);
const redacted = await bob.fetchRoomEvent(roomId, sent[0]);
assert.deepEqual(redacted.content, {});
assert.ok(redacted.unsigned?.redacted_because, "redacted_because present");

step("leave and logout");
bob.stopClient();
alice.stopClient();
await bob.leave(roomId);
const after = await bob.getJoinedRooms();
assert.ok(!after.joined_rooms.includes(roomId));
await bob.logout(true);
await assert.rejects(bob.whoami(), (e) => e.errcode === "M_UNKNOWN_TOKEN");
await alice.logout(true);
console.log("jssdk scenario passed");
process.exit(0);
