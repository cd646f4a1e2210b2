// Two real hearths federating on loopback, each driven by its own
// matrix-js-sdk client (the version test/clients pins): alice on A, bob on
// B. Every step asserts what the clients see; a failed step is reported and
// the next one runs (later steps may then fail for the same reason).
import assert from "node:assert/strict";
import { startHearth, stopHearth } from "./harness.mjs";

// matrix-js-sdk 37 expects Promise.withResolvers (Node 22); Node 20 lacks it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const sdkURL = new URL("../clients/node_modules/matrix-js-sdk/lib/index.js", import.meta.url);
const sdk = await import(sdkURL);
const { logger } = await import(new URL("../clients/node_modules/matrix-js-sdk/lib/logger.js", import.meta.url));
logger.setLevel?.("error");
// The SDK's child loggers log to the console whatever the root level says
// (sync retries while a server is down on purpose, RTC sessions of rooms
// not loaded yet); the steps report on stdout themselves.
const say = (line) => process.stdout.write(line + "\n");
console.log = console.info = console.debug = console.warn = console.error = () => {};

const WAIT = 30000; // how long an outcome that crosses servers may take before the step fails

async function waitFor(fn, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s${last ? ` (last error: ${last.message})` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function register(baseUrl, name) {
  const c = sdk.createClient({ baseUrl });
  let session;
  try {
    await c.registerRequest({ username: name, password: "pw-" + name });
  } catch (e) {
    session = e.data?.session;
    if (!session) throw e;
  }
  const res = await c.registerRequest({ username: name, password: "pw-" + name, auth: { type: "m.login.dummy", session } });
  return { baseUrl, userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id };
}

function client(creds) {
  return sdk.createClient({ ...creds });
}

function timelineBodies(room) {
  return room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);
}

// Pages a room's history backwards with /messages; returns its m.room.message
// bodies oldest first.
async function allBodies(c, roomId) {
  const out = [];
  let from = null;
  for (let i = 0; i < 1000; i++) {
    const page = await c.createMessagesRequest(roomId, from, 100, "b");
    for (const ev of page.chunk) if (ev.type === "m.room.message" && typeof ev.content?.body === "string") out.push(ev.content.body);
    if (!page.end || page.chunk.length === 0) break;
    from = page.end;
  }
  return out.reverse();
}

// runTwoServers runs the steps (all, or those named in `only`) against
// servers a and b (from harness.startHearth); b is stopped and restarted for
// the partition and the fork. Returns the number of failed steps.
export async function runTwoServers({ a, b, only = [] }) {
  const S = {};
  const need = (key, stepName) => {
    if (S[key] === undefined) throw new Error(`needs step ${stepName}, which did not pass`);
    return S[key];
  };
  const steps = [];
  const step = (name, fn) => steps.push({ name, fn });

  step("register", async () => {
    const suffix = Date.now().toString(36);
    S.aliceCreds = await register(a.base, "alice" + suffix);
    S.bobCreds = await register(b.base, "bob" + suffix);
    assert.ok(S.aliceCreds.userId.endsWith(":" + a.name), `alice is ${S.aliceCreds.userId}`);
    assert.ok(S.bobCreds.userId.endsWith(":" + b.name), `bob is ${S.bobCreds.userId}`);
    S.alice = client(S.aliceCreds);
    S.bob = client(S.bobCreds);
    S.alice.startClient({ initialSyncLimit: 20 });
    S.bob.startClient({ initialSyncLimit: 20 });
  });

  step("create_invite_join", async () => {
    const { alice, bob } = need("alice", "register") && S;
    const { room_id: roomId } = await alice.createRoom({ name: "Across servers", preset: "private_chat" });
    await alice.invite(roomId, bob.getUserId());
    await waitFor(() => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob sees the invite in /sync");
    await bob.joinRoom(roomId, { viaServers: [a.name] });
    await waitFor(() => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob joined");
    await waitFor(() => bob.getRoom(roomId)?.name === "Across servers", "bob sees the room's name");
    S.roomId = roomId;
  });

  step("messages_both_ways", async () => {
    const { alice, bob } = S;
    const roomId = need("roomId", "create_invite_join");
    const m1 = await alice.sendTextMessage(roomId, "hello bob");
    S.aliceMessage = m1.event_id;
    await waitFor(() => bob.getRoom(roomId)?.findEventById(m1.event_id), "bob sees alice's message");
    const m2 = await bob.sendTextMessage(roomId, "hello alice");
    await waitFor(() => alice.getRoom(roomId)?.findEventById(m2.event_id), "alice sees bob's message");
    assert.deepEqual(timelineBodies(alice.getRoom(roomId)).slice(-2), ["hello bob", "hello alice"]);
  });

  step("state", async () => {
    const { alice, bob } = S;
    const roomId = need("roomId", "create_invite_join");
    await alice.setRoomTopic(roomId, "topic from A");
    await waitFor(async () => (await bob.getStateEvent(roomId, "m.room.topic", "")).topic === "topic from A", "bob's server has A's topic");
    await bob.sendStateEvent(roomId, "org.hearth.test", { from: "B" }, "b-key").catch((e) => {
      // bob has power 0 in a private_chat room: B must refuse it locally, as A would.
      assert.equal(e.errcode, "M_FORBIDDEN", `B's state event without power: ${e}`);
    });
    await alice.setPowerLevel(roomId, bob.getUserId(), 50);
    await waitFor(() => bob.getRoom(roomId)?.getMember(bob.getUserId())?.powerLevel === 50, "bob sees his new power level");
    await bob.setRoomName(roomId, "renamed on B");
    await waitFor(() => alice.getRoom(roomId)?.name === "renamed on B", "alice sees B's room name");
  });

  step("redaction", async () => {
    const { alice, bob } = S;
    const roomId = need("roomId", "create_invite_join");
    await alice.redactEvent(roomId, need("aliceMessage", "messages_both_ways"));
    await waitFor(async () => {
      const ev = await bob.fetchRoomEvent(roomId, S.aliceMessage);
      return Object.keys(ev.content).length === 0 && ev.unsigned?.redacted_because;
    }, "bob's server redacted alice's message");
  });

  step("typing", async () => {
    const { alice, bob } = S;
    const roomId = need("roomId", "create_invite_join");
    await alice.sendTyping(roomId, true, 20000);
    await waitFor(() => bob.getRoom(roomId)?.getMember(alice.getUserId())?.typing, "bob sees alice typing");
  });

  step("receipts", async () => {
    const { alice, bob } = S;
    const roomId = need("roomId", "create_invite_join");
    const m = await alice.sendTextMessage(roomId, "read me");
    const ev = await waitFor(() => bob.getRoom(roomId)?.findEventById(m.event_id), "bob has the message");
    await bob.sendReceipt(ev, "m.read");
    await waitFor(() => alice.getRoom(roomId)?.getReadReceiptForUserId(bob.getUserId())?.eventId === m.event_id,
      "alice sees bob's receipt");
  });

  step("profile", async () => {
    const { alice, bob } = S;
    await alice.setDisplayName("Alice on A");
    const prof = await bob.getProfileInfo(alice.getUserId());
    assert.equal(prof.displayname, "Alice on A");
  });

  // A public room on A with an alias, for the directory and for leave/rejoin.
  const lobby = async () => {
    if (!S.publicRoom) {
      const alias = "lobby" + Date.now().toString(36);
      const { room_id: pub } = await S.alice.createRoom({ name: "Lobby", preset: "public_chat", visibility: "public", room_alias_name: alias });
      S.publicAlias = `#${alias}:${a.name}`;
      S.publicRoom = pub;
    }
    return S.publicRoom;
  };

  step("public_directory", async () => {
    const { bob } = S;
    const pub = await lobby();
    const res = await bob.publicRooms({ server: a.name, limit: 50 });
    assert.ok(res.chunk.some((r) => r.room_id === pub && r.name === "Lobby"), `B's /publicRooms?server=A lists the lobby: ${JSON.stringify(res.chunk)}`);
    const resolved = await bob.getRoomIdForAlias(S.publicAlias);
    assert.equal(resolved.room_id, pub);
  });

  step("remote_media", async () => {
    const { alice, bob } = S;
    const text = "media from A " + Date.now();
    const up = await alice.uploadContent(new Blob([text], { type: "text/plain" }), { name: "a.txt", type: "text/plain" });
    assert.ok(up.content_uri.startsWith(`mxc://${a.name}/`), up.content_uri);
    const r = await fetch(`${b.base}/_matrix/client/v1/media/download/${up.content_uri.slice(6)}`, {
      headers: { Authorization: `Bearer ${bob.getAccessToken()}` },
    });
    assert.equal(r.status, 200, `B's download of A's media: ${r.status} ${await r.clone().text()}`);
    assert.equal(await r.text(), text);
  });

  step("leave_and_rejoin", async () => {
    const { alice, bob } = S;
    const pub = await lobby();
    await bob.joinRoom(S.publicAlias);
    await waitFor(() => alice.getRoom(pub)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob join the lobby");
    await bob.leave(pub);
    await waitFor(() => alice.getRoom(pub)?.getMember(bob.getUserId())?.membership === "leave", "alice sees bob leave");
    await bob.joinRoom(pub, { viaServers: [a.name] });
    await waitFor(() => alice.getRoom(pub)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob rejoin");
    const m = await alice.sendTextMessage(pub, "welcome back");
    await waitFor(() => bob.getRoom(pub)?.findEventById(m.event_id), "bob sees a message after rejoining");
  });

  step("encrypted_message", async () => {
    // New devices with js-sdk's Rust crypto (in memory): device lists, one-time
    // key claims and to-device messages all cross servers before bob decrypts.
    const login = async (creds) => {
      const c = sdk.createClient({ baseUrl: creds.baseUrl });
      const r = await c.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: creds.userId }, password: "pw-" + creds.userId.slice(1).split(":")[0] });
      const e2e = sdk.createClient({ baseUrl: creds.baseUrl, userId: r.user_id, accessToken: r.access_token, deviceId: r.device_id });
      await e2e.initRustCrypto({ useIndexedDB: false });
      e2e.startClient({ initialSyncLimit: 20 });
      await waitFor(() => ["PREPARED", "SYNCING"].includes(e2e.getSyncState()), `${r.user_id}'s first sync`);
      return e2e;
    };
    const alice2 = await login(S.aliceCreds);
    const bob2 = await login(S.bobCreds);
    S.e2e = [alice2, bob2];
    const { room_id: roomId } = await alice2.createRoom({
      preset: "private_chat", invite: [],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await alice2.invite(roomId, bob2.getUserId());
    await waitFor(() => bob2.getRoom(roomId)?.getMyMembership() === "invite", "bob's new device sees the invite");
    await bob2.joinRoom(roomId, { viaServers: [a.name] });
    await waitFor(() => alice2.getRoom(roomId)?.getMember(bob2.getUserId())?.membership === "join", "alice sees bob joined");
    await waitFor(() => alice2.getRoom(roomId)?.hasEncryptionStateEvent(), "alice's client knows the room is encrypted");
    const sent = await alice2.sendTextMessage(roomId, "a secret across servers");
    const ev = await waitFor(() => bob2.getRoom(roomId)?.findEventById(sent.event_id), "bob has the encrypted event");
    assert.equal(ev.getWireType(), "m.room.encrypted", "the message went encrypted");
    try {
      await waitFor(async () => {
        await bob2.decryptEventIfNeeded(ev);
        return ev.getClearContent()?.body === "a secret across servers";
      }, "bob decrypts alice's message");
    } catch (e) {
      // Say which leg is missing: each side's view of the other's devices.
      const devices = async (c, user) => Object.keys((await c.http.authedRequest("POST", "/keys/query", undefined,
        { device_keys: { [user]: [] } })).device_keys?.[user] ?? {}).length;
      throw new Error(`${e.message}; A's /keys/query lists ${await devices(alice2, bob2.getUserId())} devices of bob, ` +
        `B's lists ${await devices(bob2, alice2.getUserId())} of alice`);
    }
    for (const c of S.e2e) c.stopClient();
  });

  step("partition", async () => {
    const { alice } = S;
    const roomId = need("roomId", "create_invite_join");
    S.bob.stopClient();
    await stopHearth(b);
    for (let i = 0; i < 200; i++) await alice.sendTextMessage(roomId, `partition ${i}`);
    Object.assign(b, await startHearth(b));
    S.bob = client(S.bobCreds);
    S.bob.startClient({ initialSyncLimit: 20 });
    const want = Array.from({ length: 200 }, (_, i) => `partition ${i}`);
    const got = await waitFor(async () => {
      const bodies = (await allBodies(S.bob, roomId)).filter((x) => x.startsWith("partition "));
      return bodies.length >= 200 ? bodies : null;
    }, "B's /messages holds the 200 messages sent while it was down", 120000);
    assert.deepEqual(got, want, "the 200 messages in order, each once");
    const last = await alice.sendTextMessage(roomId, "after the partition");
    await waitFor(() => S.bob.getRoom(roomId)?.findEventById(last.event_id), "bob's sync sees a message after the partition");
  });

  step("fork", async () => {
    const { alice } = S;
    const roomId = need("roomId", "create_invite_join");
    // bob may set the topic (50), as alice may.
    const pl = (await alice.getStateEvent(roomId, "m.room.power_levels", "")).users ?? {};
    if ((pl[S.bob.getUserId()] ?? 0) < 50) await alice.setPowerLevel(roomId, S.bob.getUserId(), 50);
    await waitFor(async () => ((await S.bob.getStateEvent(roomId, "m.room.power_levels", "")).users ?? {})[S.bob.getUserId()] >= 50,
      "B has bob's power level");
    // Partition: A sets the topic while B is down, then B sets it while A is down.
    S.bob.stopClient();
    await stopHearth(b);
    await alice.setRoomTopic(roomId, "fork: A's topic");
    await alice.sendTextMessage(roomId, "fork: A's side");
    await stopHearth(a);
    Object.assign(b, await startHearth(b));
    S.bob = client(S.bobCreds);
    await S.bob.setRoomTopic(roomId, "fork: B's topic");
    await S.bob.sendTextMessage(roomId, "fork: B's side");
    Object.assign(a, await startHearth(a));
    // Healing: each side sends once more, so each learns the other's branch.
    await alice.sendTextMessage(roomId, "fork: A heals");
    await S.bob.sendTextMessage(roomId, "fork: B heals");
    // Messages travel on their own: wait until each side holds all four.
    const forkMsgs = async (c) => (await allBodies(c, roomId)).filter((x) => x.startsWith("fork: ")).sort();
    const want = ["fork: A heals", "fork: A's side", "fork: B heals", "fork: B's side"];
    let seen = {};
    try {
      await waitFor(async () => {
        seen = { A: await forkMsgs(alice), B: await forkMsgs(S.bob) };
        return JSON.stringify(seen.A) === JSON.stringify(want) && JSON.stringify(seen.B) === JSON.stringify(want);
      }, "both servers hold both sides of the fork, each message once", 60000);
    } catch (e) {
      throw new Error(`${e.message}: A has ${JSON.stringify(seen.A)}, B has ${JSON.stringify(seen.B)}`);
    }
    // With both branches on both sides, both resolve the same current state.
    const stateOf = async (c) => {
      const s = await c.roomState(roomId);
      return JSON.stringify(s.map((e) => [e.type, e.state_key, e.event_id]).sort());
    };
    await waitFor(async () => {
      const [sa, sb] = [await stateOf(alice), await stateOf(S.bob)];
      return sa === sb;
    }, "A and B report the same current state after the fork", 60000);
    const topic = (await alice.getStateEvent(roomId, "m.room.topic", "")).topic;
    assert.ok(["fork: A's topic", "fork: B's topic"].includes(topic), `the resolved topic is ${topic}`);
  });

  let failed = 0;
  for (const s of steps) {
    if (only.length && !only.includes(s.name)) continue;
    const t0 = Date.now();
    try {
      await s.fn();
      say(`ok   ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      say(`FAIL ${s.name}: ${String(e.message || e).split("\n")[0]}`);
    }
  }
  S.alice?.stopClient();
  S.bob?.stopClient();
  for (const c of S.e2e ?? []) c.stopClient();
  say(`${failed} of ${only.length || steps.length} steps failed`);
  return failed;
}
