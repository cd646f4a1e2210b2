// shell-api.test.mjs checks the Hearth JS API (/hearth.js) and the service
// worker in Debian's Chromium, against a real `bin/hearth serve` (build it
// first: make build):
//
//	node --test test/browser/shell-api.test.mjs
//
// The page is the shell with ?manual, which leaves the homeserver stopped
// and puts Hearth on window.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launch, startNative, watchPage } from "./shell-lib.mjs";

describe("Hearth API", { timeout: 600000 }, () => {
	let web;
	let browser;
	let page;

	before(async () => {
		web = await startNative({ serverName: "api-host.test" });
		browser = await launch();
		page = watchPage(await browser.context.newPage(), "api");
		await page.goto(`${web.base}/?manual`);
		await page.waitForFunction(() => window.Hearth !== undefined);
	});

	after(async () => {
		await browser?.close();
		await web?.stop();
	});

	// run evaluates fn(Hearth, hs, arg) in the page; hs is the running
	// instance (window.hs) if any.
	const run = (fn, arg) => page.evaluate(async ([src, arg]) => {
		// eslint-disable-next-line no-new-func
		const f = new Function(`return (${src})`)();
		return f(window.Hearth, window.hs, arg);
	}, [fn.toString(), arg]);

	// caught evaluates fn like run and returns {name, code, message} of what
	// it throws, or null.
	const caught = (fn, arg) => page.evaluate(async ([src, arg]) => {
		const f = new Function(`return (${src})`)();
		try {
			await f(window.Hearth, window.hs, arg);
			return null;
		} catch (err) {
			return { name: err.name, code: err.code ?? null, message: String(err.message) };
		}
	}, [fn.toString(), arg]);

	test("an empty database without owner is refused", async () => {
		const err = await caught((Hearth) => Hearth.start({ serverName: "api.test" }));
		assert.equal(err?.code, "NEEDS_OWNER", JSON.stringify(err));
		assert.match(err.message, /owner/);
		const bad = await caught((Hearth) => Hearth.start({ storage: "floppy" }));
		assert.equal(bad?.code, "BAD_OPTION", JSON.stringify(bad));
	});

	test("start creates the owner; start again returns the running instance", async () => {
		const r = await run(async (Hearth) => {
			const p1 = Hearth.start({ serverName: "api.test", owner: { name: "owner", password: "pw" } });
			const p2 = Hearth.start({ serverName: "ignored.test" });
			const [a, b] = await Promise.all([p1, p2]);
			const c = await Hearth.start();
			window.hs = a;
			return { same: a === b && b === c, owner: a.owner, state: a.state, status: await a.status() };
		});
		assert.equal(r.same, true, "one instance per page");
		assert.equal(r.owner, true);
		assert.equal(r.state, "owner");
		assert.equal(r.status.storage, "opfs");
		assert.equal(r.status.owner, true);
		assert.equal(r.status.serverName, "api.test");
		assert.ok(r.status.databaseBytes > 0);
		assert.equal(typeof r.status.version, "string");
		// A first visit's database is a copy of the build's schema image
		// (kept by the worker across the refused start above).
		assert.ok(r.status.startupPhases.schemaImageBytes > 0, JSON.stringify(r.status.startupPhases));
		// Its owner's password was hashed in the helper worker (the login
		// below shows the hash is right).
		assert.equal(r.status.startupPhases.ownerHashedAside, true, JSON.stringify(r.status.startupPhases));
	});

	test("the send path warm-up runs in a helper after the first answer; requests meanwhile are answered; it leaves nothing", async () => {
		const r = await run(async (Hearth, hs) => {
			const json = { "Content-Type": "application/json" };
			const before = (await hs.status()).worker.warmUp ?? null;
			// The first answer starts it.
			const versions = (await hs.fetch("/_matrix/client/versions")).status;
			const login = await (await hs.fetch("/_matrix/client/v3/login", { method: "POST", headers: json,
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "pw" }) })).json();
			const auth = { ...json, Authorization: `Bearer ${login.access_token}` };
			const rooms = async () => (await (await hs.fetch("/_matrix/client/v3/joined_rooms", { headers: auth })).json()).joined_rooms;
			const roomsBefore = await rooms();
			const answers = [];
			let w;
			for (const t0 = Date.now(); Date.now() - t0 < 240000;) {
				w = (await hs.status()).worker.warmUp;
				if (w?.done) {
					break;
				}
				const res = await hs.fetch("/_matrix/client/v3/account/whoami", { headers: auth });
				answers.push([res.status, (await res.json()).user_id]);
			}
			const warmLogin = (await hs.fetch("/_matrix/client/v3/login", { method: "POST", headers: json,
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "warm" }, password: "warm-up password" }) })).status;
			return { before, versions, w, answers, roomsBefore, roomsAfter: await rooms(), warmLogin };
		});
		assert.equal(r.before, null, "no warm-up before the first answer");
		assert.equal(r.versions, 200);
		assert.equal(r.w?.done, true, JSON.stringify(r.w));
		assert.equal(r.w.error, null);
		assert.equal(r.w.sends, 40);
		// Its database started from the build's schema image.
		assert.equal(r.w.image, true, JSON.stringify(r.w));
		// Whether some of these requests overlapped the warm-up depends on
		// timing, so it is not asserted here: that the warm-up gives way to
		// the tab's requests, and that sends meanwhile reach only the tab's
		// homeserver, is held without timing by TestWarmUpGivesWay and
		// TestWarmUpSends (wasm/warmsends_js_test.go). Every answer made
		// while it was not yet done is checked.
		for (const a of r.answers) {
			assert.deepEqual(a, [200, "@owner:api.test"]);
		}
		assert.deepEqual(r.roomsAfter, r.roomsBefore, "the warm-up's room is not in the tab's homeserver");
		assert.equal(r.warmLogin, 403, "the warm-up's account is not in the tab's homeserver");
	});

	test("a start of a build whose warm-up ran to its end runs a short one; a start remembering another build a full one", async () => {
		const r = await run(async (Hearth, hs) => {
			const key = (await hs.status()).worker.warmUp?.key ?? null;
			// What the page remembers once the worker reports the warm-up
			// (30 s after it ended, so it is set here by hand).
			const startRemembering = async (remembered) => {
				await window.hs.stop();
				localStorage.setItem("hearth.warmedUp", remembered);
				const again = await Hearth.start();
				window.hs = again;
				const versions = (await again.fetch("/_matrix/client/versions")).status;
				let w;
				for (const t0 = Date.now(); Date.now() - t0 < 240000;) {
					w = (await again.status()).worker.warmUp;
					if (w?.done) {
						break;
					}
					await new Promise((r) => setTimeout(r, 200));
				}
				return { versions, warmUp: w ?? null };
			};
			const same = await startRemembering(key);
			const other = await startRemembering("/hearth-0000000000000000.wasm");
			localStorage.removeItem("hearth.warmedUp");
			return { key, same, other };
		});
		assert.match(r.key ?? "", /^\/hearth-[0-9a-f]+\.wasm$/, "a warm-up that ran names its build");
		assert.equal(r.same.versions, 200);
		assert.equal(r.same.warmUp?.short, true, JSON.stringify(r.same));
		assert.equal(r.same.warmUp.sends, 10);
		assert.equal(r.same.warmUp.error, null);
		assert.equal(r.same.warmUp.key, undefined, "a short warm-up is not remembered");
		assert.equal(r.other.versions, 200);
		assert.equal(r.other.warmUp?.short, false, JSON.stringify(r.other));
		assert.equal(r.other.warmUp.sends, 40);
	});

	let token;
	test("hs.fetch takes paths, URLs and Requests, and every body kind", async () => {
		const r = await run(async (Hearth, hs) => {
			const login = JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "pw" });
			const headers = { "Content-Type": "application/json" };
			const out = {};
			const versions = await hs.fetch("/_matrix/client/versions");
			out.path = [versions.status, versions.headers.get("content-type"), (await versions.json()).versions.length > 0];
			const abs = await hs.fetch(new URL("/_matrix/client/versions", location.origin).href);
			out.absolute = abs.status;
			const urlObj = await hs.fetch(new URL("/_matrix/client/versions", location.origin));
			out.urlObject = urlObj.status;
			const bodies = {
				string: login,
				blob: new Blob([login], { type: "application/json" }),
				arrayBuffer: new TextEncoder().encode(login).buffer,
				uint8Array: new TextEncoder().encode(login),
				dataView: new DataView(new TextEncoder().encode(login).buffer),
			};
			out.bodies = {};
			for (const [kind, body] of Object.entries(bodies)) {
				const res = await hs.fetch("/_matrix/client/v3/login", { method: "POST", headers, body });
				const json = await res.json();
				out.bodies[kind] = [res.status, json.user_id];
				out.token = json.access_token;
			}
			const req = new Request(new URL("/_matrix/client/v3/login", location.origin), { method: "POST", headers, body: login });
			const viaRequest = await hs.fetch(req);
			out.request = [viaRequest.status, (await viaRequest.json()).user_id];
			const unauth = await hs.fetch("/_matrix/client/v3/account/whoami");
			out.matrixError = [unauth.status, (await unauth.json()).errcode];
			const who = await hs.fetch("/_matrix/client/v3/account/whoami", { headers: { Authorization: `Bearer ${out.token}` } });
			out.whoami = [who.status, (await who.json()).user_id];
			const fn = hs.fetch;
			out.unbound = (await fn("/_matrix/client/versions")).status;
			try {
				await hs.fetch("https://matrix.example.org/_matrix/client/versions");
				out.crossOrigin = "resolved";
			} catch (err) {
				out.crossOrigin = err.name;
			}
			return out;
		});
		assert.deepEqual(r.path, [200, "application/json", true]);
		assert.equal(r.absolute, 200);
		assert.equal(r.urlObject, 200);
		for (const kind of ["string", "blob", "arrayBuffer", "uint8Array", "dataView"]) {
			assert.deepEqual(r.bodies[kind], [200, "@owner:api.test"], `body as ${kind}`);
		}
		assert.deepEqual(r.request, [200, "@owner:api.test"]);
		assert.equal(r.matrixError[0], 401, "a Matrix error resolves with its status");
		assert.equal(r.matrixError[1], "M_MISSING_TOKEN");
		assert.deepEqual(r.whoami, [200, "@owner:api.test"]);
		assert.equal(r.unbound, 200);
		assert.equal(r.crossOrigin, "TypeError");
		token = r.token;
	});

	test("hs.fetch honours AbortSignal", async () => {
		const r = await run(async (Hearth, hs, token) => {
			const auth = { Authorization: `Bearer ${token}` };
			let since = (await (await hs.fetch("/_matrix/client/v3/sync", { headers: auth })).json()).next_batch;
			// A sync returns at once while there is news (the logins of
			// the test before); the first one that waits is aborted.
			let name = "resolved";
			let elapsed = 0;
			for (let i = 0; i < 5 && name === "resolved"; i++) {
				const ac = new AbortController();
				const t0 = performance.now();
				const timer = setTimeout(() => ac.abort(), 300);
				try {
					const res = await hs.fetch(`/_matrix/client/v3/sync?timeout=20000&since=${encodeURIComponent(since)}`, { headers: auth, signal: ac.signal });
					since = (await res.json()).next_batch;
				} catch (err) {
					name = err.name;
				}
				clearTimeout(timer);
				elapsed = performance.now() - t0;
			}
			// Aborted right after the call, before any answer can come.
			const ac = new AbortController();
			const pending = hs.fetch("/_matrix/client/v3/sync?timeout=20000", { headers: auth, signal: ac.signal });
			ac.abort();
			let immediate = "resolved";
			try {
				await pending;
			} catch (err) {
				immediate = err.name;
			}
			let pre = "resolved";
			try {
				await hs.fetch("/_matrix/client/versions", { signal: AbortSignal.abort() });
			} catch (err) {
				pre = err.name;
			}
			// The homeserver still answers after the abort.
			const after = (await hs.fetch("/_matrix/client/versions")).status;
			return { name, elapsed, immediate, pre, after };
		}, token);
		assert.equal(r.name, "AbortError", "a waiting /sync is aborted");
		assert.ok(r.elapsed < 10000, `the aborted sync took ${r.elapsed} ms`);
		assert.equal(r.immediate, "AbortError");
		assert.equal(r.pre, "AbortError");
		assert.equal(r.after, 200);
	});

	test("the service worker answers same-origin /_matrix through the tab", async () => {
		const r = await run(async (Hearth, hs, token) => {
			const deadline = Date.now() + 30000;
			while (!navigator.serviceWorker.controller && Date.now() < deadline) {
				await new Promise((res) => setTimeout(res, 100));
			}
			const reg = await navigator.serviceWorker.getRegistration("/");
			// The native hearth serving this page does not know the tab's token.
			const res = await fetch("/_matrix/client/v3/account/whoami", { headers: { Authorization: `Bearer ${token}` } });
			return { controlled: !!navigator.serviceWorker.controller, scope: reg?.scope, status: res.status, body: await res.json() };
		}, token);
		assert.equal(r.controlled, true, "the service worker claimed the page");
		assert.equal(r.scope, `${web.base}/`);
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.user_id, "@owner:api.test");
	});

	test("a second tab uses the owner tab through the same API", async () => {
		const page2 = watchPage(await browser.context.newPage(), "api tab 2");
		await page2.goto(`${web.base}/?manual`);
		const r = await page2.evaluate(async (token) => {
			const hs = await window.Hearth.start({ serverName: "other.test" });
			const st = await hs.status();
			const who = await hs.fetch("/_matrix/client/v3/account/whoami", { headers: { Authorization: `Bearer ${token}` } });
			const exported = await hs.exportDatabase();
			const out = { owner: hs.owner, status: st, whoami: (await who.json()).user_id, exportType: exported.type, exportSize: exported.size };
			await hs.stop();
			try {
				await hs.fetch("/_matrix/client/versions");
				out.afterStop = "resolved";
			} catch (err) {
				out.afterStop = err.name;
			}
			return out;
		}, token);
		await page2.close();
		assert.equal(r.owner, false);
		assert.equal(r.status.owner, false);
		assert.equal(r.status.serverName, "api.test");
		assert.equal(r.status.storage, "opfs");
		assert.equal(r.whoami, "@owner:api.test");
		assert.equal(r.exportType, "application/vnd.sqlite3");
		assert.ok(r.exportSize > 0);
		assert.equal(r.afterStop, "TypeError");
	});

	test("export, stop, import: refusals and a round trip", async () => {
		const r = await run(async (Hearth, hs) => {
			const out = {};
			const blob = await hs.exportDatabase();
			out.type = blob.type;
			out.header = new TextDecoder().decode(new Uint8Array(await blob.arrayBuffer()).subarray(0, 15));
			try {
				await Hearth.importDatabase(blob);
				out.whileRunning = "imported";
			} catch (err) {
				out.whileRunning = err.code;
			}
			await hs.stop();
			out.state = hs.state;
			out.stoppedStatus = await hs.status();
			try {
				await hs.fetch("/_matrix/client/versions");
				out.fetchAfterStop = "resolved";
			} catch (err) {
				out.fetchAfterStop = err.name;
			}
			// While no tab runs the homeserver, the service worker answers 503.
			const sw = await fetch("/_matrix/client/versions");
			out.sw = [sw.status, (await sw.json()).errcode];
			try {
				await Hearth.importDatabase(new Blob(["not a database at all, not even close to one"]));
				out.garbage = "imported";
			} catch (err) {
				out.garbage = err.code;
			}
			await Hearth.importDatabase(blob);
			const again = await Hearth.start();
			window.hs = again;
			const st = await again.status();
			out.restarted = { owner: again.owner, fresh: again !== hs, serverName: st.serverName, schemaImageBytes: st.startupPhases.schemaImageBytes };
			const login = await again.fetch("/_matrix/client/v3/login", {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "pw" }),
			});
			out.login = login.status;
			return out;
		});
		assert.equal(r.type, "application/vnd.sqlite3");
		assert.equal(r.header, "SQLite format 3");
		assert.equal(r.whileRunning, "RUNNING");
		assert.equal(r.state, "stopped");
		assert.equal(r.stoppedStatus.state, "stopped");
		assert.equal(r.fetchAfterStop, "TypeError");
		assert.deepEqual(r.sw, [503, "M_UNAVAILABLE"]);
		assert.equal(r.garbage, "NOT_HEARTH");
		assert.deepEqual(r.restarted, { owner: true, fresh: true, serverName: "api.test", schemaImageBytes: 0 });
		assert.equal(r.login, 200);
	});

	test("memory storage", async () => {
		const r = await run(async (Hearth, hs) => {
			await hs.stop();
			const mem = await Hearth.start({ storage: "memory", serverName: "mem.test", owner: { name: "m", password: "pw" } });
			const st = await mem.status();
			await mem.stop();
			return st;
		});
		assert.equal(r.storage, "memory");
		assert.equal(r.serverName, "mem.test");
	});
});
