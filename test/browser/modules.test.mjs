// modules.test.mjs runs modules (docs/modules.md) in the browser build, in
// Debian's Chromium: the tab's homeserver loads them through Hearth.start's
// modules option and runs each instance on the browser's own WebAssembly
// engine in a worker of its own (modules/browser_js.go). The keyword filter
// (examples/modules/keyword-filter) refuses a send; the test modules of
// modules/testdata (built here with the go command) loop past their time
// cap, run out of memory, and read a room's state. Build first (make build
// makes bin/hearth, which serves the page, and bin/modules/keyword-filter.wasm):
//
//	node --test test/browser/modules.test.mjs
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launch, repo, startNative, tempDir, watchPage } from "./shell-lib.mjs";

const filterFile = process.env.HEARTH_KEYWORD_FILTER || path.join(repo, "bin", "modules", "keyword-filter.wasm");

// testModule builds the test module modules/testdata/NAME and returns its
// bytes, base64.
function testModule(name) {
	const out = path.join(tempDir("hearth-module-"), `${name}.wasm`);
	execFileSync("go", ["build", "-buildmode=c-shared", "-o", out, `./modules/testdata/${name}`],
		{ cwd: repo, env: { ...process.env, GOOS: "wasip1", GOARCH: "wasm", CGO_ENABLED: "0" }, stdio: "inherit" });
	return fs.readFileSync(out).toString("base64");
}

// tabPage opens, before a suite's tests, the page served by a native
// homeserver in a fresh Chromium (onPage sees the page before it loads),
// and closes both after them. The page is the returned object's page.
function tabPage(name, onPage) {
	const tab = {};
	before(async () => {
		tab.web = await startNative({ serverName: "modules-host.test" });
		tab.browser = await launch();
		tab.page = watchPage(await tab.browser.context.newPage(), name);
		onPage?.(tab.page);
		await tab.page.goto(`${tab.web.base}/?manual`);
		await tab.page.waitForFunction(() => window.Hearth !== undefined);
	});
	after(async () => {
		await tab.browser?.close();
		await tab.web?.stop();
	});
	return tab;
}

describe("modules in the tab", { timeout: 600000 }, () => {
	const tab = tabPage("modules");

	test("a send with the filtered word is refused through hs.fetch", async () => {
		const wasm = fs.readFileSync(filterFile).toString("base64");
		const r = await tab.page.evaluate(async (wasm) => {
			const bytes = Uint8Array.from(atob(wasm), (c) => c.charCodeAt(0));
			const hs = await window.Hearth.start({
				serverName: "modules.test", owner: { name: "owner", password: "pw" }, storage: "memory",
				modules: [{ wasm: bytes, name: "keyword-filter", config: { words: ["casino"] } }],
			});
			window.hs = hs;
			const status = await hs.status();
			const json = { "Content-Type": "application/json" };
			const login = await (await hs.fetch("/_matrix/client/v3/login", {
				method: "POST", headers: json,
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "pw" }),
			})).json();
			const auth = { ...json, Authorization: `Bearer ${login.access_token}` };
			const room = (await (await hs.fetch("/_matrix/client/v3/createRoom", { method: "POST", headers: auth, body: "{}" })).json()).room_id;
			const send = async (txn, body) => {
				const res = await hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/${txn}`,
					{ method: "PUT", headers: auth, body: JSON.stringify({ msgtype: "m.text", body }) });
				return [res.status, (await res.json()).errcode ?? null];
			};
			const out = { startupMs: status.startupMs };
			out.clean = await send("t1", "good morning");
			out.filtered = await send("t2", "the best Casino in town");
			// A few more sends, timed, for the cost of the module.
			const t0 = performance.now();
			for (let i = 0; i < 20; i++) {
				await send(`n${i}`, `message number ${i}`);
			}
			out.sendMs = (performance.now() - t0) / 20;
			const msgs = await (await hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(room)}/messages?dir=b&limit=100`, { headers: auth })).json();
			out.bodies = msgs.chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body);
			const mods = await (await hs.fetch("/_hearth/admin/v1/modules", { headers: auth })).json();
			out.modules = mods.modules;
			return out;
		}, wasm);
		assert.deepEqual(r.clean, [200, null], "a clean message is sent");
		assert.deepEqual(r.filtered, [403, "M_FORBIDDEN"], "the filtered word is refused");
		assert.ok(!r.bodies.some((b) => /casino/i.test(b)), `the refused message is not stored: ${r.bodies}`);
		assert.ok(r.bodies.includes("good morning"));
		assert.equal(r.modules.length, 1);
		assert.equal(r.modules[0].name, "keyword-filter");
		assert.equal(r.modules[0].failures, 0);
		assert.ok(r.modules[0].calls_by_callback.check_event_for_spam >= 22, JSON.stringify(r.modules[0]));
		process.stderr.write(`[modules] tab start ${r.startupMs} ms with the filter; send ${r.sendMs.toFixed(2)} ms; ` +
			`filter p50 ${r.modules[0].p50_call_us} µs, p99 ${r.modules[0].p99_call_us} µs over ${r.modules[0].calls} calls (browser engine)\n`);
	});
});

// Modules that fail: a loop stopped at its time cap (its worker is
// terminated), a module that runs out of its memory cap, each logged with
// its name, each call after a failure served by a fresh instance; and a
// module that reads a room's state and checks an extra login type.
describe("failing and state-reading modules in the tab", { timeout: 600000 }, () => {
	const logs = [];
	const tab = tabPage("modules-fail", (page) => page.on("console", (msg) => logs.push(msg.text())));

	test("loop, out of memory, state_event and check_auth", async () => {
		const wasm = { loop: testModule("loop"), alloc: testModule("alloc"), statereader: testModule("statereader") };
		const r = await tab.page.evaluate(async (wasm) => {
			const bytes = (b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
			const hs = await window.Hearth.start({
				serverName: "modules.test", owner: { name: "owner", password: "pw" }, storage: "memory",
				modules: [
					{ wasm: bytes(wasm.loop), name: "loop", onError: "allow", timeout: "300ms" },
					{ wasm: bytes(wasm.alloc), name: "alloc", memoryPages: 512, timeout: "20s" },
					{ wasm: bytes(wasm.statereader), name: "statereader" },
				],
			});
			const json = { "Content-Type": "application/json" };
			const post = async (path, body, headers = json, method = "POST") => {
				const res = await hs.fetch(path, { method, headers, body: JSON.stringify(body) });
				return [res.status, await res.json()];
			};
			const out = {};
			out.loginTypes = (await (await hs.fetch("/_matrix/client/v3/login")).json()).flows.map((f) => f.type);
			out.magic = await post("/_matrix/client/v3/login", { type: "org.example.magic", user: "@owner:modules.test", password: "sesame" });
			out.wrongMagic = (await post("/_matrix/client/v3/login", { type: "org.example.magic", user: "@owner:modules.test", password: "x" }))[0];
			const auth = { ...json, Authorization: `Bearer ${out.magic[1].access_token}` };
			const enc = encodeURIComponent;
			// user_may_create_room: the loop and alloc modules answer at once.
			const [, created] = await post("/_matrix/client/v3/createRoom", { preset: "public_chat", topic: "closed" }, auth);
			const room = created.room_id;
			out.created = !!room;
			// check_event_for_spam: the loop runs past its cap (allowed), the
			// alloc module runs out of memory (denied); twice, each time on
			// fresh instances.
			const send = async (txn) => (await post(`/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/${txn}`,
				{ msgtype: "m.text", body: "hello" }, auth, "PUT"));
			out.send1 = await send("s1");
			out.send2 = await send("s2");
			out.afterFailures = (await post("/_matrix/client/v3/createRoom", {}, auth))[0];
			// user_may_join_room reads the room's topic with state_event.
			out.leave = (await post(`/_matrix/client/v3/rooms/${enc(room)}/leave`, {}, auth))[0];
			out.joinClosed = await post(`/_matrix/client/v3/join/${enc(room)}`, {}, auth);
			const [, open] = await post("/_matrix/client/v3/createRoom", { preset: "public_chat", topic: "open" }, auth);
			await post(`/_matrix/client/v3/rooms/${enc(open.room_id)}/leave`, {}, auth);
			out.joinOpen = (await post(`/_matrix/client/v3/join/${enc(open.room_id)}`, {}, auth))[0];
			const mods = await (await hs.fetch("/_hearth/admin/v1/modules", { headers: auth })).json();
			out.modules = Object.fromEntries(mods.modules.map((m) => [m.name, m]));
			return out;
		}, wasm);
		assert.ok(r.loginTypes.includes("org.example.magic"), `login types ${r.loginTypes}`);
		assert.equal(r.magic[0], 200, JSON.stringify(r.magic));
		assert.equal(r.magic[1].user_id, "@owner:modules.test");
		assert.equal(r.wrongMagic, 403);
		assert.ok(r.created);
		assert.deepEqual([r.send1[0], r.send1[1].errcode], [403, "M_FORBIDDEN"], JSON.stringify(r.send1));
		assert.match(r.send1[1].error, /alloc/);
		assert.deepEqual([r.send2[0], r.send2[1].errcode], [403, "M_FORBIDDEN"], JSON.stringify(r.send2));
		assert.equal(r.afterFailures, 200, "the modules serve again after their failures");
		assert.equal(r.leave, 200);
		assert.deepEqual([r.joinClosed[0], r.joinClosed[1].errcode], [403, "ORG.EXAMPLE_CLOSED"], JSON.stringify(r.joinClosed));
		assert.equal(r.joinOpen, 200);
		const { loop, alloc, statereader } = r.modules;
		assert.equal(loop.failures_by_callback.check_event_for_spam, 2, JSON.stringify(loop));
		assert.equal(loop.failures_by_callback.user_may_create_room ?? 0, 0, JSON.stringify(loop));
		assert.ok(loop.calls_by_callback.user_may_create_room >= 3, JSON.stringify(loop));
		assert.equal(alloc.failures_by_callback.check_event_for_spam, 2, JSON.stringify(alloc));
		assert.equal(alloc.failures_by_callback.user_may_create_room ?? 0, 0, JSON.stringify(alloc));
		assert.equal(statereader.failures, 0, JSON.stringify(statereader));
		assert.ok(statereader.calls_by_callback.on_new_event > 0, JSON.stringify(statereader));
		const text = logs.join("\n");
		assert.match(text, /module call failed.*module=loop.*time cap/, "the loop's failure is logged with its name");
		assert.match(text, /module call failed.*module=alloc.*(exited with code|trapped)/, "the alloc module's failure is logged with its name");
		assert.match(text, /new event \$\S+" module=statereader/, "a module's log calls reach the log");
	});
});

// The same sends without the module, for the cost of the module in
// the tab (printed, not asserted).
describe("sends in the tab without modules", { timeout: 600000 }, () => {
	const tab = tabPage("no-modules");

	test("baseline", async () => {
		const r = await tab.page.evaluate(async () => {
			const hs = await window.Hearth.start({ serverName: "modules.test", owner: { name: "owner", password: "pw" }, storage: "memory" });
			const status = await hs.status();
			const json = { "Content-Type": "application/json" };
			const login = await (await hs.fetch("/_matrix/client/v3/login", {
				method: "POST", headers: json,
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "pw" }),
			})).json();
			const auth = { ...json, Authorization: `Bearer ${login.access_token}` };
			const room = (await (await hs.fetch("/_matrix/client/v3/createRoom", { method: "POST", headers: auth, body: "{}" })).json()).room_id;
			const codes = [];
			const t0 = performance.now();
			for (let i = 0; i < 20; i++) {
				const res = await hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/n${i}`,
					{ method: "PUT", headers: auth, body: JSON.stringify({ msgtype: "m.text", body: `message number ${i}` }) });
				codes.push(res.status);
			}
			return { startupMs: status.startupMs, sendMs: (performance.now() - t0) / 20, codes };
		});
		assert.ok(r.codes.every((c) => c === 200), JSON.stringify(r.codes));
		process.stderr.write(`[modules] tab start ${r.startupMs} ms without modules; send ${r.sendMs.toFixed(2)} ms\n`);
	});
});

// Bad modules refuse the tab's start, one line each, as natively.
describe("bad modules in the tab", { timeout: 600000 }, () => {
	const tab = tabPage("modules-bad");

	test("an import the host does not offer, no ABI exports, not WebAssembly", async () => {
		const err = await tab.page.evaluate(async () => {
			const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
			const ascii = (s) => [...s].map((c) => c.charCodeAt(0));
			// (type (func)) (import "env" "foo" (func (type 0)))
			const badImport = new Uint8Array([...header, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
				0x02, 0x0b, 0x01, 0x03, ...ascii("env"), 0x03, ...ascii("foo"), 0x00, 0x00]);
			// (memory 1) (export "memory" (memory 0)), and nothing else
			const noABI = new Uint8Array([...header, 0x05, 0x03, 0x01, 0x00, 0x01,
				0x07, 0x0a, 0x01, 0x06, ...ascii("memory"), 0x02, 0x00]);
			try {
				await window.Hearth.start({
					serverName: "modules.test", owner: { name: "owner", password: "pw" }, storage: "memory",
					modules: [{ wasm: badImport, name: "bad-import" }, { wasm: noABI, name: "no-abi" },
						{ wasm: new TextEncoder().encode("hello"), name: "not-wasm" }],
				});
				return null;
			} catch (e) {
				return String(e.message);
			}
		});
		assert.ok(err !== null, "the start with bad modules succeeded");
		const lines = err.split("\n").filter((l) => /^module /.test(l) || / module /.test(l));
		assert.match(err, /module bad-import: imports env\.foo, which this server does not offer/, err);
		assert.match(err, /module no-abi: does not export hearth_(abi_version|alloc)/, err);
		assert.match(err, /module not-wasm: not a valid WebAssembly module/, err);
		assert.equal(lines.length, 3, err);
	});
});
