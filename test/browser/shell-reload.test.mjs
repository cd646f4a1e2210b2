// shell-reload.test.mjs checks the hand-over of the homeserver from a page
// to its reload in Debian's Chromium, against a real `bin/hearth serve`
// (build it first: make build):
//
//	node --test test/browser/shell-reload.test.mjs
//
// The page is the shell with ?manual (Hearth on window). It sends messages
// one after the other and notes each acknowledged one in localStorage
// (synchronously, so a note is never lost with the page) while it is
// reloaded. The reloaded page must find the owner lock free when it asks
// (the old page let go of it on pagehide, before the new page ran), and
// every acknowledged message in the room, in order, with nothing after the
// last one but the one that was in flight.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launch, startNative, watchPage } from "./shell-lib.mjs";

describe("reload while sending", { timeout: 600000 }, () => {
	let web;
	let browser;
	let page;

	before(async () => {
		web = await startNative({ serverName: "reload-host.test" });
		browser = await launch();
		page = watchPage(await browser.context.newPage(), "reload");
		await page.goto(`${web.base}/?manual`);
		await page.waitForFunction(() => window.Hearth !== undefined);
	});

	after(async () => {
		await browser?.close();
		await web?.stop();
	});

	// start starts the homeserver in the page (the first time with its
	// owner, a room and a token kept in localStorage) and returns the
	// owner lock figures of status().timings.
	const start = () => page.evaluate(async () => {
		const hs = await window.Hearth.start({ serverName: "reload.test", owner: { name: "owner", password: "reload-pw" }, storage: "opfs" });
		window.hs = hs;
		if (!localStorage.getItem("test.session")) {
			const json = { "Content-Type": "application/json" };
			const login = await (await hs.fetch("/_matrix/client/v3/login", {
				method: "POST", headers: json,
				body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "reload-pw" }),
			})).json();
			const room = await (await hs.fetch("/_matrix/client/v3/createRoom", {
				method: "POST", headers: { ...json, Authorization: `Bearer ${login.access_token}` }, body: JSON.stringify({ name: "reload" }),
			})).json();
			localStorage.setItem("test.session", JSON.stringify({ token: login.access_token, roomId: room.room_id }));
		}
		const st = await hs.status();
		const t = st.timings;
		return { owner: hs.owner, lockAtOnce: t.lockAtOnce, previousReleaseMs: t.previousReleaseMs, ownerWaitMs: t.ownerWaitMs, busyWaitMs: st.startupPhases?.busyWaitMs };
	});

	// sendUntilGone sends "m N" (N counting on from the last
	// acknowledged one) until the page goes away, noting each
	// acknowledged send in localStorage.
	const sendUntilGone = () => page.evaluate(() => {
		const { token, roomId } = JSON.parse(localStorage.getItem("test.session"));
		const acked = JSON.parse(localStorage.getItem("test.acked") ?? "[]");
		window.sending = (async () => {
			for (let n = acked.length; ; n++) {
				const res = await window.hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m${n}`, {
					method: "PUT", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
					body: JSON.stringify({ msgtype: "m.text", body: `m ${n}` }),
				});
				if (res.status !== 200) {
					throw new Error(`send ${n}: ${res.status} ${await res.text()}`);
				}
				const { event_id: id } = await res.json();
				acked.push(id);
				localStorage.setItem("test.acked", JSON.stringify(acked));
			}
		})();
		window.sending.catch((err) => { window.sendError = String(err); });
	});

	const ackedCount = () => page.evaluate(() => JSON.parse(localStorage.getItem("test.acked") ?? "[]").length);

	// timeline reads the room's messages, oldest first, and the
	// acknowledged event IDs.
	const timeline = () => page.evaluate(async () => {
		const { token, roomId } = JSON.parse(localStorage.getItem("test.session"));
		const r = await (await window.hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1000`,
			{ headers: { Authorization: `Bearer ${token}` } })).json();
		const msgs = r.chunk.filter((e) => e.type === "m.room.message").reverse().map((e) => ({ id: e.event_id, body: e.content.body }));
		return { msgs, acked: JSON.parse(localStorage.getItem("test.acked") ?? "[]") };
	});

	test("a page reloaded while it sends hands the homeserver over at once and loses no acknowledged send", async (t) => {
		const first = await start();
		assert.equal(first.owner, true);
		for (let round = 1; round <= 3; round++) {
			const before = await ackedCount();
			await sendUntilGone();
			// Reload once a few sends of this round are acknowledged: one
			// is then most likely in flight.
			await page.waitForFunction((n) => JSON.parse(localStorage.getItem("test.acked") ?? "[]").length >= n, before + 5 * round, { polling: 1 });
			await page.reload();
			await page.waitForFunction(() => window.Hearth !== undefined);
			const st = await start();
			assert.equal(st.owner, true, `round ${round}: the reloaded page owns the homeserver`);
			assert.equal(st.lockAtOnce, true, `round ${round}: the reloaded page found the owner lock held by the old one (waited ${st.ownerWaitMs} ms)`);
			assert.notEqual(st.previousReleaseMs, null, `round ${round}: the old page noted no release on pagehide`);

			const { msgs, acked } = await timeline();
			assert.ok(acked.length >= before + 5 * round, `round ${round}: ${acked.length} acknowledged`);
			// Every acknowledged send is there, in order, under the ID
			// it was acknowledged with; after the last one at most the
			// one that was in flight when the page went away.
			const bodies = msgs.map((m) => m.body);
			t.diagnostic(`round ${round}: ${acked.length} acknowledged, ${msgs.length} stored; owner lock after ${st.ownerWaitMs.toFixed(0)} ms, ` +
				`the old page let go at ${st.previousReleaseMs.toFixed(0)} ms, waited ${st.busyWaitMs} ms for the old worker's database`);
			assert.deepEqual(msgs.slice(0, acked.length).map((m) => m.id), acked, `round ${round}: acknowledged events`);
			assert.deepEqual(bodies.slice(0, acked.length), acked.map((_, i) => `m ${i}`), `round ${round}: bodies`);
			assert.ok(msgs.length <= acked.length + 1, `round ${round}: ${msgs.length - acked.length} events after the last acknowledged one: ${JSON.stringify(bodies.slice(acked.length))}`);
			if (msgs.length === acked.length + 1) {
				// The send in flight was stored: the same transaction
				// again gets the same event back (and the next round
				// notes it as acknowledged).
				assert.equal(bodies[acked.length], `m ${acked.length}`);
				const again = await page.evaluate(async () => {
					const { token, roomId } = JSON.parse(localStorage.getItem("test.session"));
					const acked = JSON.parse(localStorage.getItem("test.acked"));
					const n = acked.length;
					const res = await window.hs.fetch(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m${n}`, {
						method: "PUT", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
						body: JSON.stringify({ msgtype: "m.text", body: `m ${n}` }),
					});
					const { event_id: id } = await res.json();
					acked.push(id);
					localStorage.setItem("test.acked", JSON.stringify(acked));
					return { status: res.status, id };
				});
				assert.equal(again.status, 200);
				assert.equal(again.id, msgs[acked.length].id, `round ${round}: the retried transaction is the stored event`);
			}
		}
	});

	test("a page that finds the owner lock taken says who holds it, and takes over when that page closes", async () => {
		const second = watchPage(await browser.context.newPage(), "second");
		try {
			await second.goto(`${web.base}/?manual`);
			await second.waitForFunction(() => window.Hearth !== undefined);
			const client = await second.evaluate(async () => {
				window.hs = await window.Hearth.start({ storage: "opfs" });
				return { owner: window.hs.owner, state: window.hs.state };
			});
			assert.deepEqual(client, { owner: false, state: "client" });
			// The first page goes away; the second takes over.
			await page.close({ runBeforeUnload: false });
			const took = await second.evaluate(async () => {
				const hs = window.hs;
				if (!hs.owner) {
					await new Promise((resolve) => hs.addEventListener("statechange", () => hs.owner && resolve(), { once: false }));
				}
				await (await hs.fetch("/_matrix/client/versions")).json();
				return (await hs.status()).timings;
			});
			assert.equal(took.lockAtOnce, false);
			assert.equal(took.lockHeldBy, "the last owner page, 0 queued");
			assert.ok(took.ownerWaitMs >= took.lockAskedMs);
		} finally {
			page = second;
		}
	});
});
