// A real application service against a real `hearth serve` on 127.0.0.1:
// the echo bridge (echo-bridge.mjs, on matrix-appservice-bridge from npm)
// registered through a registration file this test writes, and a Matrix
// user, alice, driven over the client-server API. The steps share one
// server and one bridge and run in order:
//
//   node --test test/appservice/echo.test.mjs   (HEARTH_BIN: bin/hearth)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { startEchoBridge } from "./echo-bridge.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const hearthBin = process.env.HEARTH_BIN ?? join(here, "../../bin/hearth");
const DOMAIN = "localhost";
const AS_TOKEN = "echo-as-token-" + process.pid;
const HS_TOKEN = "echo-hs-token-" + process.pid;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

let dir, hearth, base, echo, alice, roomId;

// call makes a client-server request and returns { status, body }.
async function call(method, path, token, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, body: json };
}

// ok is call that expects 200.
async function ok(method, path, token, body) {
  const r = await call(method, path, token, body);
  assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

let txn = 0;
const send = (token, body) =>
  ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${++txn}`, token, { msgtype: "m.text", body });

// register makes a user through open registration (two-step UIA).
async function register(name) {
  const first = await call("POST", "/_matrix/client/v3/register", "", { username: name, password: "pw-" + name });
  assert.equal(first.status, 401, `register ${name} without auth: ${JSON.stringify(first.body)}`);
  const done = await ok("POST", "/_matrix/client/v3/register", "",
    { username: name, password: "pw-" + name, auth: { type: "m.login.dummy", session: first.body.session } });
  return { userId: done.user_id, token: done.access_token };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "hearth-appservice-"));
  const [hsPort, asPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${hsPort}`;
  const registration = join(dir, "echo.yaml");
  writeFileSync(registration, [
    "id: echo",
    `url: "http://127.0.0.1:${asPort}"`,
    `as_token: ${AS_TOKEN}`,
    `hs_token: ${HS_TOKEN}`,
    "sender_localpart: echobot",
    "rate_limited: false",
    "receive_ephemeral: true",
    "protocols: [echo]",
    "namespaces:",
    "  users:",
    `    - exclusive: true`,
    `      regex: '@echo_.*:${DOMAIN}'`,
    "  aliases:",
    `    - exclusive: true`,
    `      regex: '#echo_.*:${DOMAIN}'`,
    "  rooms: []",
    "",
  ].join("\n"));

  hearth = spawn(hearthBin, ["serve", "--data-dir", join(dir, "data"), "--listen", `127.0.0.1:${hsPort}`,
    "--server-name", DOMAIN, "--registration", "open", "--rate-limits", "off", "--log-level", "warn",
    "--app-service", registration], { stdio: ["ignore", "inherit", "inherit"] });
  let exited = null;
  hearth.on("exit", (code) => { exited = code; });
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`hearth exited with ${exited} before answering`);
    if (i === 400) throw new Error("hearth did not answer /versions within 20 s");
    try {
      if ((await fetch(`${base}/_matrix/client/versions`)).ok) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  echo = await startEchoBridge({ registration, homeserverUrl: base, domain: DOMAIN, port: asPort, hsToken: HS_TOKEN });
  alice = await register("alice");
});

after(async () => {
  await echo?.close();
  if (hearth && hearth.exitCode === null) {
    hearth.kill("SIGTERM");
    await new Promise((r) => hearth.on("exit", r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("hearth answers the bridge's ping with the service's own token only", async () => {
  const pinged = await ok("POST", "/_matrix/client/v1/appservice/echo/ping", AS_TOKEN, { transaction_id: "p1" });
  assert.equal(typeof pinged.duration_ms, "number");
  assert.deepEqual(echo.seen.pings, ["p1"]);
  const refused = await call("POST", "/_matrix/client/v1/appservice/echo/ping", alice.token, {});
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.deepEqual(echo.seen.pings, ["p1"]);
});

test("the bridge's bot joins the room alice invites it to", async () => {
  const created = await ok("POST", "/_matrix/client/v3/createRoom", alice.token,
    { preset: "private_chat", name: "echo room", invite: [echo.botUserId] });
  roomId = created.room_id;
  await echo.waitFor("its bot's join", (s) => s.events.some((e) => e.type === "m.room.member" &&
    e.room_id === roomId && e.state_key === echo.botUserId && e.content.membership === "join"));
  const members = await ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`, alice.token);
  assert.deepEqual(Object.keys(members.joined).sort(), [alice.userId, echo.botUserId].sort());
});

test("each message of alice comes back once through her ghost, which the bridge registered", async () => {
  const ghost = echo.ghostOf(alice.userId);
  assert.equal(ghost, `@echo_alice:${DOMAIN}`);
  for (const [i, body] of ["hello 1", "hello 2 ✓"].entries()) {
    await send(alice.token, body);
    // The bridge sent its echo, and hearth pushed the echo back to it.
    await echo.waitFor(`the echo of ${JSON.stringify(body)} come back from hearth`, (s) => s.echoes.length === i + 1 &&
      s.events.filter((e) => e.type === "m.room.message" && e.sender === ghost).length === i + 1);
  }
  assert.deepEqual(echo.seen.errors, []);
  assert.deepEqual(echo.seen.echoes.map((e) => [e.sender, e.body]),
    [[ghost, "echo: hello 1"], [ghost, "echo: hello 2 ✓"]]);

  // What alice reads in the room, in order.
  const page = await ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=f&limit=100`, alice.token);
  const said = page.chunk.filter((e) => e.type === "m.room.message").map((e) => [e.sender, e.content.body]);
  assert.deepEqual(said, [
    [alice.userId, "hello 1"], [ghost, "echo: hello 1"],
    [alice.userId, "hello 2 ✓"], [ghost, "echo: hello 2 ✓"],
  ]);
  // The events the bridge got are the ones stored, with their IDs.
  const ghostIds = page.chunk.filter((e) => e.sender === ghost && e.type === "m.room.message").map((e) => e.event_id);
  assert.deepEqual(echo.seen.echoes.map((e) => e.eventId), ghostIds);

  // The ghost is a real account: registered by the bridge
  // (m.login.application_service), with a profile.
  const profile = await ok("GET", `/_matrix/client/v3/profile/${encodeURIComponent(ghost)}`, alice.token);
  assert.equal(profile.displayname, "echo_alice");
  // Nobody else may take a name in the bridge's exclusive namespace.
  const taken = await call("POST", "/_matrix/client/v3/register", "", { username: "echo_mallory", password: "pw" });
  assert.equal(taken.body.errcode, "M_EXCLUSIVE", JSON.stringify(taken.body));
});

test("a profile lookup of a ghost no one has registered asks the bridge, which creates it", async () => {
  const x = `@echo_x:${DOMAIN}`;
  const profile = await ok("GET", `/_matrix/client/v3/profile/${encodeURIComponent(x)}`, alice.token);
  assert.equal(profile.displayname, "Echo x");
  assert.deepEqual(echo.seen.queries, [x]);
  assert.deepEqual(echo.seen.provisioned, [x]);

  // A user the echo network does not have: the bridge says 404, and so
  // does hearth.
  const nobody = `@echo_nobody:${DOMAIN}`;
  const missing = await call("GET", `/_matrix/client/v3/profile/${encodeURIComponent(nobody)}`, alice.token);
  assert.equal(missing.status, 404, JSON.stringify(missing.body));
  assert.equal(missing.body.errcode, "M_NOT_FOUND");
  assert.deepEqual(echo.seen.queries, [x, nobody]);
  assert.deepEqual(echo.seen.provisioned, [x]);

  // A known ghost is not asked about again.
  await ok("GET", `/_matrix/client/v3/profile/${encodeURIComponent(x)}`, alice.token);
  assert.deepEqual(echo.seen.queries, [x, nobody]);
});

test("inviting a ghost no one has registered asks the bridge first", async () => {
  const y = `@echo_y:${DOMAIN}`;
  await ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, alice.token, { user_id: y });
  assert.deepEqual(echo.seen.queries.at(-1), y);
  assert.deepEqual(echo.seen.provisioned.at(-1), y);
  const member = await ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(y)}`, alice.token);
  assert.equal(member.membership, "invite");
  await echo.waitFor("the invite of its ghost y", (s) => s.events.some((e) =>
    e.type === "m.room.member" && e.state_key === y && e.content.membership === "invite" && e.sender === alice.userId));
});

test("with receive_ephemeral the bridge sees alice type, stop, and read", async () => {
  const typing = (on) => ok("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(alice.userId)}`,
    alice.token, on ? { typing: true, timeout: 30000 } : { typing: false });
  const typingEvents = (s) => s.ephemeral.filter((e) => e.type === "m.typing" && e.room_id === roomId);

  await typing(true);
  await echo.waitFor("alice typing", (s) => typingEvents(s).length === 1);
  assert.deepEqual(typingEvents(echo.seen)[0].content, { user_ids: [alice.userId] });

  await typing(false);
  await echo.waitFor("alice stop typing", (s) => typingEvents(s).length === 2);
  assert.deepEqual(typingEvents(echo.seen)[1].content, { user_ids: [] });

  const last = echo.seen.echoes.at(-1).eventId;
  await ok("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(last)}`, alice.token, {});
  await echo.waitFor("alice's read receipt", (s) => s.ephemeral.some((e) => e.type === "m.receipt" && e.room_id === roomId));
  const receipt = echo.seen.ephemeral.find((e) => e.type === "m.receipt");
  assert.deepEqual(Object.keys(receipt.content), [last]);
  assert.deepEqual(Object.keys(receipt.content[last]["m.read"]), [alice.userId]);
});

test("an alias lookup asks the bridge, which creates the room and lists it in its network's directory", async () => {
  const lobby = `#echo_lobby:${DOMAIN}`;
  const resolved = await ok("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(lobby)}`, alice.token);
  assert.deepEqual(echo.seen.aliasQueries, [lobby]);
  assert.deepEqual(echo.seen.errors, []);
  assert.deepEqual(echo.seen.published, [resolved.room_id]);
  assert.deepEqual(resolved.servers, [DOMAIN]);

  // An alias the echo network does not have stays unknown.
  const nope = `#echo_nope:${DOMAIN}`;
  const missing = await call("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(nope)}`, alice.token);
  assert.equal(missing.status, 404, JSON.stringify(missing.body));
  assert.deepEqual(echo.seen.aliasQueries, [lobby, nope]);

  // The network's instance_id, as a client learns it, names the
  // network's list of /publicRooms; the server's own list does not have
  // the room.
  const protocols = await ok("GET", "/_matrix/client/v3/thirdparty/protocols", alice.token);
  assert.deepEqual(protocols.echo.instances.map((i) => [i.network_id, i.instance_id]), [["echo-net", "echo|echo-net"]]);
  const listed = await ok("POST", "/_matrix/client/v3/publicRooms", alice.token, { third_party_instance_id: "echo|echo-net" });
  assert.deepEqual(listed.chunk.map((r) => [r.room_id, r.name, r.canonical_alias]), [[resolved.room_id, "Echo lobby", lobby]]);
  const own = await ok("POST", "/_matrix/client/v3/publicRooms", alice.token, {});
  assert.deepEqual(own.chunk.map((r) => r.room_id), []);

  // The bridge's locations come through the homeserver; alice joins one.
  const locations = await ok("GET", "/_matrix/client/v3/thirdparty/location/echo?room=lobby", alice.token);
  assert.deepEqual(locations, [{ alias: lobby, protocol: "echo", fields: { room: "lobby" } }]);
  const joined = await ok("POST", `/_matrix/client/v3/join/${encodeURIComponent(lobby)}`, alice.token, {});
  assert.equal(joined.room_id, resolved.room_id);
});
