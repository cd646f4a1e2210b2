// A small echo bridge on matrix-appservice-bridge: its "remote network"
// mirrors whatever a Matrix user says. It joins the rooms its bot is
// invited to, answers each m.room.message of a real user with the same
// text from a ghost, @echo_<localpart>:<domain>, prefixed "echo: ",
// provisions ghosts the homeserver asks about (GET /_matrix/app/v1/users),
// creates the rooms of the aliases it asks about (#echo_lobby only) and
// publishes them in its network's room directory, describes its protocol
// "echo" (one network, echo-net) and its locations, and keeps the
// ephemeral events (typing, receipts, presence) it receives.
// Everything it does is recorded in `seen` for the test to check.
//
// It runs inside the test (startEchoBridge) or alone:
//
//   node test/appservice/echo-bridge.mjs REGISTRATION.yaml HOMESERVER_URL DOMAIN PORT
import { readFileSync } from "node:fs";
import bridgeLib from "matrix-appservice-bridge";
import { load as yamlLoad } from "js-yaml";

const { Bridge, AppserviceHttpError, Logger } = bridgeLib;

// GHOST_PREFIX is the localpart prefix of the bridge's ghosts; the
// registration's user namespace must hold @echo_.*.
export const GHOST_PREFIX = "echo_";

// ECHO_NETWORK is the network ID of the echo protocol's one instance.
export const ECHO_NETWORK = "echo-net";

// The remote network's users: a ghost whose name is in this list, or that
// echoes a Matrix user, exists there; others do not (a query for them is
// answered 404).
const REMOTE_NAMES = /^(x|y|z|[a-z]+_remote)$/;

export async function startEchoBridge({ registration, homeserverUrl, domain, port, hsToken, quiet = true }) {
  // The library's own log (ECHO_BRIDGE_LOG=info to see it in a test).
  Logger.configure({ console: process.env.ECHO_BRIDGE_LOG ?? (quiet ? "off" : "info") });
  const seen = {
    pings: [],       // transaction IDs of the homeserver's pings
    aliasQueries: [], // aliases the homeserver asked about, in order
    published: [],   // rooms published in the echo-net directory
    queries: [],     // user IDs the homeserver asked about, in order
    provisioned: [], // of them, the ones the bridge created
    events: [],      // every event of a transaction, in order
    ephemeral: [],   // every ephemeral event, in order
    echoes: [],      // { roomId, sender, body, eventId } the ghosts sent
    errors: [],      // failures of the bridge's own work
  };
  const waiters = new Set();
  const changed = () => { for (const w of waiters) w(); };
  const ghostsInRoom = new Set();
  let bridge;

  const ghostOf = (userId) => {
    const local = userId.slice(1, userId.indexOf(":"));
    return `@${GHOST_PREFIX}${local}:${domain}`;
  };
  const isBridged = (userId) => userId === bridge.getBot().getUserId() ||
    userId.startsWith(`@${GHOST_PREFIX}`) && userId.endsWith(`:${domain}`);

  // echo sends body back into roomId as the ghost of sender.
  async function echo(roomId, sender, body) {
    const ghostId = ghostOf(sender);
    const ghost = bridge.getIntent(ghostId);
    const key = `${roomId} ${ghostId}`;
    if (!ghostsInRoom.has(key)) {
      await ghost.ensureRegistered();
      // The bot invites its ghost, which then joins: a room a user
      // invited the bot to is not open to anyone else.
      await bridge.getIntent().invite(roomId, ghostId);
      await ghost.join(roomId);
      ghostsInRoom.add(key);
    }
    const text = `echo: ${body}`;
    const res = await ghost.sendText(roomId, text);
    seen.echoes.push({ roomId, sender: ghostId, body: text, eventId: res.event_id });
  }

  bridge = new Bridge({
    homeserverUrl,
    domain,
    registration,
    disableStores: true,
    disableContext: true,
    // Every event reaches onEvent, the ghosts' own too, so the test sees
    // what hearth pushes; the bridge itself answers only real users.
    suppressEcho: false,
    controller: {
      async onUserQuery(matrixUser) {
        seen.queries.push(matrixUser.getId());
        changed();
        const local = matrixUser.localpart;
        const name = local.slice(GHOST_PREFIX.length);
        if (!local.startsWith(GHOST_PREFIX) || !REMOTE_NAMES.test(name)) {
          throw new AppserviceHttpError({ errcode: "M_NOT_FOUND", error: `${matrixUser.getId()} is no one on the echo network` }, 404);
        }
        seen.provisioned.push(matrixUser.getId());
        changed();
        return { name: `Echo ${name}` };
      },

      onAliasQuery(alias, localpart) {
        seen.aliasQueries.push(alias);
        changed();
        if (localpart !== `${GHOST_PREFIX}lobby`) return null;
        return { creationOpts: { room_alias_name: localpart, name: "Echo lobby", preset: "public_chat" } };
      },

      async onAliasQueried(alias, roomId) {
        // PUT /directory/list/appservice/{networkId}/{roomId}: the room
        // is listed under the network's third_party_instance_id.
        try {
          await bridge.getBot().getClient().doRequest("PUT",
            `/_matrix/client/v3/directory/list/appservice/${ECHO_NETWORK}/${encodeURIComponent(roomId)}`, null, { visibility: "public" });
          seen.published.push(roomId);
        } catch (err) {
          seen.errors.push(`publishing ${roomId}: ${err.message ?? err}`);
          throw err;
        }
        changed();
      },

      thirdPartyLookup: {
        protocols: ["echo"],
        getProtocol: () => ({
          user_fields: ["name"],
          location_fields: ["room"],
          icon: "mxc://localhost/echo",
          field_types: {
            name: { regexp: "[a-z]+", placeholder: "alice" },
            room: { regexp: "[a-z]+", placeholder: "lobby" },
          },
          instances: [{ desc: "The echo network", network_id: ECHO_NETWORK, fields: {} }],
        }),
        getLocation: (protocol, fields) => [{
          alias: `#${GHOST_PREFIX}${fields.room}:${domain}`, protocol, fields: { room: fields.room },
        }],
      },

      async onEvent(request) {
        const ev = request.getData();
        seen.events.push(ev);
        try {
          if (ev.type === "m.room.member" && ev.state_key === bridge.getBot().getUserId() && ev.content?.membership === "invite") {
            await bridge.getIntent().join(ev.room_id);
          } else if (ev.type === "m.room.message" && !isBridged(ev.sender) && typeof ev.content?.body === "string") {
            await echo(ev.room_id, ev.sender, ev.content.body);
          }
        } catch (err) {
          seen.errors.push(`${ev.type} ${ev.event_id}: ${err.message ?? err}`);
        }
        changed();
      },

      onEphemeralEvent(request) {
        seen.ephemeral.push(request.getData());
        changed();
      },
    },
  });
  await bridge.initialise();
  await bridge.listen(port, "127.0.0.1");

  // POST /_matrix/app/v1/ping (application service API v1.7), which
  // matrix-appservice 2.0 does not serve: the homeserver's answer to a
  // client's /appservice/{id}/ping.
  bridge.appService.expressApp.post("/_matrix/app/v1/ping", (req, res) => {
    if (req.headers.authorization !== `Bearer ${hsToken}`) {
      res.status(403).send({ errcode: "M_FORBIDDEN", error: "Bad token supplied" });
      return;
    }
    seen.pings.push(req.body?.transaction_id ?? null);
    changed();
    res.send({});
  });

  // waitFor resolves once cond(seen) holds, and rejects after guardMs (a
  // guard against a test hanging, not a timing assertion).
  function waitFor(what, cond, guardMs = 30000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try { ok = cond(seen); } catch (err) { finish(); reject(err); return; }
        if (ok) { finish(); resolve(); }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`the echo bridge never saw ${what}; it saw ${JSON.stringify(seen, null, 1).slice(0, 4000)}`));
      }, guardMs);
      const finish = () => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      check();
    });
  }

  return {
    bridge,
    seen,
    waitFor,
    botUserId: bridge.getBot().getUserId(),
    ghostOf,
    close: () => bridge.close(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [registration, homeserverUrl, domain, port] = process.argv.slice(2);
  if (!port) {
    console.error("usage: node echo-bridge.mjs REGISTRATION.yaml HOMESERVER_URL DOMAIN PORT");
    process.exit(2);
  }
  const { AppServiceRegistration } = bridgeLib;
  const hsToken = AppServiceRegistration.fromObject(yamlLoad(readFileSync(registration, "utf8"))).getHomeserverToken();
  await startEchoBridge({ registration, homeserverUrl, domain, port: Number(port), hsToken, quiet: false });
  console.log(`echo bridge listening on 127.0.0.1:${port}`);
}
