// relay.test.mjs: issue 11's browser test. A tab's homeserver
// (tab.relay.test, OPFS) federates through relay R (`hearth relay`,
// *.relay.test, a wildcard certificate from a test CA made with Debian's
// openssl) with hearth A (`hearth serve`, federation over TLS at
// 127.0.0.1:P). The tab joins a room on A; messages go both ways
// (matrix-js-sdk against A in Node, hs.fetch in the tab); the tab is
// closed while A sends 100 messages, which R stores for it; reopened, it
// has all 100.
//
// Chromium reaches R as wss://relay.test:PORT: --host-resolver-rules maps
// relay.test to 127.0.0.1, and --ignore-certificate-errors-spki-list with
// the SPKI hash of R's certificate makes it trust that one certificate
// (nothing else is trusted beyond the system's roots). A resolves
// tab.relay.test to R by federation.resolve, and trusts the CA by
// federation.ca_file.
//
//	node --test test/browser/relay.test.mjs   (after make build client-deps)
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { freePort, makeCA } from "../federation/harness.mjs";
import { hearth, hearthBin, launch, tempDir, watchPage } from "./shell-lib.mjs";

// matrix-js-sdk 37 expects Promise.withResolvers (Node 22); Node 20 lacks it.
if (!Promise.withResolvers) {
	Promise.withResolvers = function () {
		let resolve, reject;
		const promise = new this((res, rej) => { resolve = res; reject = rej; });
		return { promise, resolve, reject };
	};
}
const sdk = await import(new URL("../clients/node_modules/matrix-js-sdk/lib/index.js", import.meta.url));
const { logger } = await import(new URL("../clients/node_modules/matrix-js-sdk/lib/logger.js", import.meta.url));
logger.setLevel("warn");

const tabName = "tab.relay.test";
const bob = { name: "bob", password: "tab owner password" };

function openssl(args, cwd) {
	return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
}

// wildcardCert issues relay.pem / relay.key for relay.test and
// *.relay.test from the CA in dir, and returns their paths and the
// certificate's SPKI hash (base64 SHA-256), as Chromium's
// --ignore-certificate-errors-spki-list wants it.
function wildcardCert(dir) {
	fs.writeFileSync(path.join(dir, "relay.ext"), "subjectAltName=DNS:relay.test,DNS:*.relay.test\n" +
		"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
	openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=relay.test"], dir);
	openssl(["x509", "-req", "-in", "relay.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "relay.pem", "-days", "2", "-extfile", "relay.ext"], dir);
	const der = openssl(["pkey", "-in", "relay.key", "-pubout", "-outform", "DER"], dir);
	const spki = execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der });
	return { cert: path.join(dir, "relay.pem"), key: path.join(dir, "relay.key"), spki: spki.toString("base64") };
}

// startA runs hearth A: `hearth serve` with its client API on
// 127.0.0.1:C (which also serves the page) and federation over TLS on
// 127.0.0.1:P, named 127.0.0.1:P; federation.resolve points the tab's name
// at the relay.
async function startA({ ca, cert, key, resolve }) {
	const dir = tempDir("hearth-relay-a-");
	const fedPort = await freePort();
	const clientPort = await freePort();
	const name = `127.0.0.1:${fedPort}`;
	const config = path.join(dir, "hearth.yaml");
	fs.writeFileSync(config, [
		`server_name: "${name}"`,
		`listen: "127.0.0.1:${clientPort}"`,
		`data_dir: "${dir}"`,
		"registration: open",
		`rate_limits: "off"`,
		"log_level: warn",
		"federation:",
		`  listen: "${name}"`,
		`  tls_cert_file: "${cert}"`,
		`  tls_key_file: "${key}"`,
		`  ca_file: "${ca}"`,
		"  allow_private_addresses: true",
		`  resolve: "${resolve}"`,
		"",
	].join("\n"));
	const proc = spawn(hearthBin, ["serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
	let log = "";
	proc.stdout.on("data", (d) => { log += d; });
	proc.stderr.on("data", (d) => { log += d; });
	const exited = new Promise((r) => proc.on("exit", r));
	const base = `http://127.0.0.1:${clientPort}`;
	await until("A answers", async () => {
		if (proc.exitCode !== null) {
			throw new Error(`hearth A exited:\n${log}`);
		}
		return (await fetch(`${base}/_matrix/client/versions`)).ok;
	}, 150);
	return {
		name,
		base,
		log: () => log,
		async stop() {
			if (proc.exitCode === null) {
				proc.kill("SIGTERM");
			}
			await exited;
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

async function until(what, cond, tries = 600) {
	let last;
	for (let i = 0; i < tries; i++) {
		try {
			last = await cond();
			if (last) {
				return last;
			}
		} catch (err) {
			last = err;
		}
		await new Promise((r) => setTimeout(r, 200));
	}
	throw new Error(`gave up waiting until ${what}: ${last?.message ?? last}`);
}

describe("a tab's homeserver behind a relay", { timeout: 900000 }, () => {
	const work = tempDir("hearth-relay-browser-");
	let relayProc;
	let relayLog = "";
	let relayPort;
	let relayDir;
	let token;
	let a;
	let alice;
	let browser;
	let page;
	let roomId;

	before(async () => {
		const { ca, certs } = makeCA(work, ["127.0.0.1"]);
		const relayCert = wildcardCert(work);
		relayDir = path.join(work, "relay");
		token = (await hearth("relay", "node", "add", "--data-dir", relayDir, "tab")).trim();
		relayPort = await freePort();
		relayProc = spawn(hearthBin, ["relay", "--data-dir", relayDir, "--listen", `127.0.0.1:${relayPort}`,
			"--domain", "relay.test", "--tls-cert-file", relayCert.cert, "--tls-key-file", relayCert.key,
			"--public-port", String(relayPort), "--log-level", "warn", "--federation-ca-file", ca,
			"--federation-allow-private-addresses", "true"], { stdio: ["ignore", "pipe", "pipe"] });
		relayProc.stdout.on("data", (d) => { relayLog += d; });
		relayProc.stderr.on("data", (d) => { relayLog += d; });

		a = await startA({ ca, ...certs["127.0.0.1"], resolve: `${tabName}=127.0.0.1:${relayPort}` });

		browser = await launch({ args: [
			"--host-resolver-rules=MAP relay.test 127.0.0.1, MAP *.relay.test 127.0.0.1",
			`--ignore-certificate-errors-spki-list=${relayCert.spki}`,
		] });
	});

	after(async () => {
		page?.close().catch(() => {});
		alice?.stopClient();
		await browser?.close();
		await a?.stop();
		relayProc?.kill("SIGTERM");
		fs.rmSync(work, { recursive: true, force: true });
	});

	const relayURL = () => `wss://relay.test:${relayPort}/_hearth/relay/v1/connect`;

	// openTab opens the page on A's client address with the homeserver
	// stopped, then starts the tab's homeserver (OPFS) through R.
	const openTab = async (label, start) => {
		const p = watchPage(await browser.context.newPage(), label);
		await p.goto(`${a.base}/?manual`);
		await p.waitForFunction(() => window.Hearth !== undefined);
		await p.evaluate(async (start) => { window.hs = await window.Hearth.start(start); }, start);
		await until("the tab is connected to the relay", () =>
			p.evaluate(async () => (await window.hs.status()).relay?.state === "connected"));
		return p;
	};

	// tabReq is a client-server request in the tab, through hs.fetch.
	const tabReq = (method, p, body) => page.evaluate(async ({ method, p, body }) => {
		const res = await window.hs.fetch(p, {
			method,
			headers: { "Content-Type": "application/json", ...(window.tabToken ? { Authorization: `Bearer ${window.tabToken}` } : {}) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const json = await res.json();
		if (!res.ok) {
			throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
		}
		return json;
	}, { method, p, body });

	const tabMessages = async () => {
		const r = await tabReq("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1000`);
		return r.chunk.filter((e) => e.type === "m.room.message").reverse().map((e) => e.content.body);
	};

	const aliceMessages = async () => {
		const r = await alice.createMessagesRequest(roomId, null, 1000, "b");
		return r.chunk.filter((e) => e.type === "m.room.message").reverse().map((e) => e.content.body);
	};

	test("the tab joins a room on A; messages both ways", async () => {
		page = await openTab("tab", { serverName: tabName, owner: bob, storage: "opfs", relay: { url: relayURL(), token } });
		const st = await page.evaluate(() => window.hs.status());
		assert.equal(st.storage, "opfs");
		assert.equal(st.serverName, tabName);

		const reg = sdk.createClient({ baseUrl: a.base });
		const creds = await reg.registerRequest({ username: "alice", password: "alice password", auth: { type: "m.login.dummy" } });
		alice = sdk.createClient({ baseUrl: a.base, userId: creds.user_id, accessToken: creds.access_token, deviceId: creds.device_id });
		({ room_id: roomId } = await alice.createRoom({ name: "Relay room", preset: sdk.Preset.PublicChat }));

		const login = await tabReq("POST", "/_matrix/client/v3/login",
			{ type: "m.login.password", identifier: { type: "m.id.user", user: bob.name }, password: bob.password });
		assert.equal(login.user_id, `@${bob.name}:${tabName}`);
		await page.evaluate((t) => { window.tabToken = t; }, login.access_token);
		await tabReq("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.name)}`, {});

		await alice.sendTextMessage(roomId, "hello tab");
		await until("A's message reaches the tab", async () => (await tabMessages()).includes("hello tab"));
		await tabReq("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, { msgtype: "m.text", body: "hello A" });
		await until("the tab's message reaches A", async () => (await aliceMessages()).includes("hello A"));
	});

	test("the tab closed while A sends 100 messages; reopened, all 100 are there", async () => {
		await page.close();
		page = null;
		const hundred = Array.from({ length: 100 }, (_, i) => `while away ${i + 1}`);
		for (const body of hundred) {
			await alice.sendTextMessage(roomId, body);
		}
		// R holds A's transactions for the tab while it is away.
		let list = "";
		await until("R queues transactions for the tab", async () => {
			list = await hearth("relay", "node", "list", "--data-dir", relayDir);
			const m = /^tab\t.*\tqueued (\d+)/m.exec(list);
			return m && Number(m[1]) > 0;
		}, 150).catch((err) => { throw new Error(`${err.message}\nnode list: ${list}\nrelay log:\n${relayLog}\nA log:\n${a.log()}`); });
		page = await openTab("tab again", { storage: "opfs", relay: { url: relayURL() } });
		const login = await tabReq("POST", "/_matrix/client/v3/login",
			{ type: "m.login.password", identifier: { type: "m.id.user", user: bob.name }, password: bob.password });
		await page.evaluate((t) => { window.tabToken = t; }, login.access_token);
		const got = await until("the 100 messages reach the tab", async () => {
			const m = await tabMessages();
			return hundred.every((b) => m.includes(b)) ? m : null;
		}, 1500).catch((err) => { throw new Error(`${err.message}\nrelay log:\n${relayLog}`); });
		assert.deepEqual(got.filter((b) => b.startsWith("while away")), hundred, "in order, once");
	});
});
