// matrix-js-sdk's sliding sync (MSC4186, the simplified_msc3575 endpoint)
// driving hearth: a room list window of 20 out of 200 rooms, a room
// subscription, a new message moving a room to the top, an invite
// appearing, to-device messages and the e2ee extension. Every step asserts
// what it gets back; any mismatch throws and the script exits non-zero.
//
//   node test/clients/slidingsync.mjs http://127.0.0.1:8008
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
const { SlidingSync, SlidingSyncState, ExtensionState } = await import("matrix-js-sdk/lib/sliding-sync.js");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel?.("warn");

const baseUrl = process.argv[2];
assert.ok(baseUrl, "usage: slidingsync.mjs BASE_URL");
const suffix = Date.now().toString(36);

function step(name) {
  console.log(`-- ${name}`);
}

async function waitFor(fn, what, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// api calls the client-server API directly (setting up, and the other
// side of each step).
async function api(token, method, path, body) {
  const r = await fetch(`${baseUrl}/_matrix/client/v3${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(out)}`);
  return out;
}

async function register(name) {
  const first = await fetch(`${baseUrl}/_matrix/client/v3/register`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: name, password: "pw-" + name }),
  });
  const { session } = await first.json();
  return api(null, "POST", "/register", { username: name, password: "pw-" + name, auth: { type: "m.login.dummy", session } });
}

step("versions advertise simplified sliding sync");
const versions = await (await fetch(`${baseUrl}/_matrix/client/versions`)).json();
assert.equal(versions.unstable_features["org.matrix.simplified_msc3575"], true);

step("register and log in alice and bob");
const alice = await register("ssalice" + suffix);
const bob = await register("ssbob" + suffix);

step("alice makes 200 rooms");
const rooms = [];
for (let i = 0; i < 200; i++) {
  const { room_id } = await api(alice.access_token, "POST", "/createRoom", { name: `room ${i}`, preset: "private_chat" });
  rooms.push(room_id);
}

// The e2ee extension as a client with crypto registers it (the SDK adds
// its own only with crypto on): it records what the server sends.
const e2ee = { responses: [] };
const e2eeExtension = {
  name: () => "e2ee",
  when: () => ExtensionState.PreProcess,
  onRequest: async () => ({ enabled: true }),
  onResponse: async (data) => { e2ee.responses.push(data); },
};

const client = sdk.createClient({ baseUrl, userId: alice.user_id, accessToken: alice.access_token, deviceId: alice.device_id });
const lists = new Map([["all", {
  ranges: [[0, 19]],
  timeline_limit: 1,
  required_state: [["m.room.name", ""], ["m.room.member", "$ME"], ["m.room.create", ""]],
}]]);
const sliding = new SlidingSync(baseUrl, lists, { timeline_limit: 5, required_state: [["*", "*"]] }, client, 2000);
sliding.registerExtension(e2eeExtension);
const responses = [];
sliding.on("SlidingSync.Lifecycle", (state, resp) => {
  if (state === SlidingSyncState.Complete && resp) responses.push(resp);
});
const toDevice = [];
client.on("toDeviceEvent", (ev) => toDevice.push(ev));

step("a window of 20 out of 200 rooms, newest first");
await client.startClient({ slidingSync: sliding });
const first = await waitFor(() => responses[0], "the first sliding sync response");
assert.equal(first.lists.all.count, 200, "the list counts every room");
assert.equal(Object.keys(first.rooms).length, 20, "only the window's rooms come");
const top20 = rooms.slice(180).reverse();
assert.deepEqual(first.lists.all.ops?.[0]?.room_ids, top20, "the window holds the 20 newest rooms in order");
for (const id of top20) {
  const room = await waitFor(() => client.getRoom(id), `room ${id} in the client's store`);
  assert.equal(room.name, `room ${rooms.indexOf(id)}`);
  assert.equal(room.getMyMembership(), "join");
}
assert.equal(client.getRoom(rooms[0]), null, "a room outside the window is not in the store");
assert.ok(first.rooms[rooms[199]].bump_stamp > first.rooms[rooms[180]].bump_stamp, "bump stamps order the window");

step("a room subscription brings a room outside the window");
sliding.modifyRoomSubscriptions(new Set([rooms[0]]));
const sub = await waitFor(() => client.getRoom(rooms[0]), "the subscribed room");
assert.equal(sub.name, "room 0");
await waitFor(() => sub.currentState.getStateEvents("m.room.power_levels", "") !== null, "the subscription's full state");
const subResp = responses.find((r) => r.rooms?.[rooms[0]]);
assert.ok(subResp.rooms[rooms[0]].timeline.length <= 5 && subResp.rooms[rooms[0]].timeline.length > 0);

step("a new message moves a room to the top");
const before = responses.length;
const { event_id: msgId } = await api(alice.access_token, "PUT",
  `/rooms/${encodeURIComponent(rooms[50])}/send/m.room.message/t1`, { msgtype: "m.text", body: "to the top" });
const moved = await waitFor(() => responses.slice(before).find((r) => r.lists?.all?.ops?.[0]?.room_ids?.[0] === rooms[50]), "room 50 on top");
assert.equal(moved.lists.all.count, 200);
assert.ok(moved.rooms[rooms[50]]?.initial, "the room new to the window comes whole");
const room50 = await waitFor(() => client.getRoom(rooms[50]), "room 50 in the store");
await waitFor(() => room50.getLiveTimeline().getEvents().some((e) => e.getId() === msgId), "the message in room 50's timeline");
// A second message in the top room comes alone, not as initial.
const before2 = responses.length;
const { event_id: msg2 } = await api(alice.access_token, "PUT",
  `/rooms/${encodeURIComponent(rooms[50])}/send/m.room.message/t2`, { msgtype: "m.text", body: "again" });
await waitFor(() => room50.getLiveTimeline().getEvents().some((e) => e.getId() === msg2), "the second message");
const inc = responses.slice(before2).find((r) => r.rooms?.[rooms[50]]);
assert.ok(inc && !inc.rooms[rooms[50]].initial && inc.rooms[rooms[50]].timeline.length === 1, "an incremental room carries the new event only");

step("an invite appears");
const { room_id: invited } = await api(bob.access_token, "POST", "/createRoom", { name: "from bob", preset: "private_chat" });
await api(bob.access_token, "POST", `/rooms/${encodeURIComponent(invited)}/invite`, { user_id: alice.user_id });
const inviteRoom = await waitFor(() => client.getRoom(invited), "the invited room");
await waitFor(() => inviteRoom.getMyMembership() === "invite", "alice's membership is invite");
assert.equal(inviteRoom.name, "from bob");

step("to-device messages arrive");
await api(bob.access_token, "PUT", `/sendToDevice/m.hearth.test/td1`, {
  messages: { [alice.user_id]: { [alice.device_id]: { hello: "alice" } } },
});
const td = await waitFor(() => toDevice.find((ev) => ev.getType() === "m.hearth.test"), "the to-device message");
assert.equal(td.getSender(), bob.user_id);
assert.equal(td.getContent().hello, "alice");

step("e2ee: one-time key counts and device list changes");
assert.ok(e2ee.responses.length > 0, "the e2ee extension answered");
assert.equal(e2ee.responses[0].device_one_time_keys_count.signed_curve25519, 0);
await api(alice.access_token, "POST", "/keys/upload", {
  one_time_keys: { "signed_curve25519:AAAAAQ": { key: "k1", signatures: {} }, "signed_curve25519:AAAAAg": { key: "k2", signatures: {} } },
});
await waitFor(() => e2ee.responses.some((r) => r.device_one_time_keys_count?.signed_curve25519 === 2), "two one-time keys counted");
await api(alice.access_token, "POST", `/join/${encodeURIComponent(invited)}`, {});
await api(bob.access_token, "POST", "/keys/upload", {
  device_keys: {
    user_id: bob.user_id, device_id: bob.device_id, algorithms: ["m.olm.v1.curve25519-aes-sha2"],
    keys: { [`curve25519:${bob.device_id}`]: "c", [`ed25519:${bob.device_id}`]: "e" }, signatures: {},
  },
});
await waitFor(() => e2ee.responses.some((r) => r.device_lists?.changed?.includes(bob.user_id)), "bob's device list change");

client.stopClient();
sliding.stop();
console.log("sliding sync scenario: ok");
process.exit(0);
