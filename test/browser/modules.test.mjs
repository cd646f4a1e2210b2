// modules.test.mjs runs the keyword filter module (examples/modules/
// keyword-filter, docs/modules.md) in the browser build, in Debian's
// Chromium: the tab's homeserver loads it through Hearth.start's modules
// option and runs it with wazero's interpreter in the worker. Build first
// (make build makes bin/hearth, which serves the page, and
// bin/modules/keyword-filter.wasm):
//
//	node --test test/browser/modules.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launch, repo, startNative, watchPage } from "./shell-lib.mjs";

const filterFile = process.env.HEARTH_KEYWORD_FILTER || path.join(repo, "bin", "modules", "keyword-filter.wasm");

describe("modules in the tab", { timeout: 600000 }, () => {
	let web;
	let browser;
	let page;

	before(async () => {
		web = await startNative({ serverName: "modules-host.test" });
		browser = await launch();
		page = watchPage(await browser.context.newPage(), "modules");
		await page.goto(`${web.base}/?manual`);
		await page.waitForFunction(() => window.Hearth !== undefined);
	});

	after(async () => {
		await browser?.close();
		await web?.stop();
	});

	test("a send with the filtered word is refused through hs.fetch", async () => {
		const wasm = fs.readFileSync(filterFile).toString("base64");
		const r = await page.evaluate(async (wasm) => {
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
			// A few more sends, timed, for the cost of the interpreter.
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
			`filter p50 ${r.modules[0].p50_call_us} µs, p99 ${r.modules[0].p99_call_us} µs over ${r.modules[0].calls} calls (wazero interpreter)\n`);
	});
});

// The same sends without the module, for the cost of the interpreter in
// the tab (printed, not asserted).
describe("sends in the tab without modules", { timeout: 600000 }, () => {
	let web;
	let browser;
	let page;

	before(async () => {
		web = await startNative({ serverName: "modules-host.test" });
		browser = await launch();
		page = watchPage(await browser.context.newPage(), "no-modules");
		await page.goto(`${web.base}/?manual`);
		await page.waitForFunction(() => window.Hearth !== undefined);
	});

	after(async () => {
		await browser?.close();
		await web?.stop();
	});

	test("baseline", async () => {
		const r = await page.evaluate(async () => {
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
