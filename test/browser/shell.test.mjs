// shell.test.mjs drives hearth's browser shell in Debian's Chromium against
// a real `bin/hearth serve` (build it first: make build):
//
//	node --test test/browser/shell.test.mjs
//
// For each storage (automatic, which is OPFS in Chromium, and IndexedDB
// forced): first-owner setup in the page, a room and 20 messages sent by
// matrix-js-sdk over hs.fetch, a reload that keeps them, a second tab
// served by the owner tab and taking over when it closes, the database
// exported from the tab and read back by a native hearth, and a database
// exported by `hearth db export` imported into the tab.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { Client, hearth, launch, startNative, tempDir, timelineBodies, waitForBodies, watchPage } from "./shell-lib.mjs";

const owner = { name: "owner", password: "correct horse battery" };
const twenty = Array.from({ length: 20 }, (_, i) => `message ${i + 1}`);

for (const { storage, want, serverName } of [
	{ storage: "auto", want: "opfs", serverName: "tab-opfs.test" },
	{ storage: "indexeddb", want: "indexeddb", serverName: "tab-idb.test" },
]) {
	describe(`browser shell, storage ${storage}`, { timeout: 600000 }, () => {
		let web; // the native hearth that serves the page
		let browser;
		let page;
		let url;
		let roomId;
		const work = tempDir("hearth-shell-test-");

		before(async () => {
			web = await startNative({ serverName: "shell-host.test" });
			browser = await launch();
			url = storage === "auto" ? `${web.base}/` : `${web.base}/?storage=${storage}`;
		});

		after(async () => {
			await browser?.close();
			await web?.stop();
			fs.rmSync(work, { recursive: true, force: true });
		});

		const openShell = async (label) => {
			const p = watchPage(await browser.context.newPage(), label);
			await p.goto(url);
			return p;
		};

		const waitForChat = async (p) => {
			await p.locator("#chat").waitFor({ state: "visible", timeout: 120000 });
			await p.waitForFunction(() => ["PREPARED", "SYNCING"].includes(document.body.dataset.sync), null, { timeout: 60000 });
		};

		const status = (p) => p.evaluate(() => window.hearthShell.hs.status());

		test("first start: owner setup, a room and 20 messages over hs.fetch", async () => {
			page = await openShell("tab 1");
			if (storage === "auto") {
				// Served by a native hearth, the page is first its client;
				// the homeserver in the tab is the second choice.
				await page.locator("#host").waitFor({ state: "visible", timeout: 60000 });
				await page.click("#choose-tab");
			}
			await page.locator("#setup").waitFor({ state: "visible", timeout: 120000 });
			await page.fill("#setup-server", serverName);
			await page.fill("#setup-name", owner.name);
			await page.fill("#setup-password", owner.password);
			await page.selectOption("#setup-storage", storage);
			await page.click("#setup-submit");
			await waitForChat(page);

			const st = await status(page);
			assert.equal(st.storage, want, "storage in use");
			assert.equal(st.owner, true, "this tab owns the homeserver");
			assert.equal(st.serverName, serverName);
			assert.ok(st.databaseBytes > 0, `databaseBytes ${st.databaseBytes}`);
			assert.equal(typeof st.version, "string");
			assert.equal(await page.textContent("#storage"), want, "the page says which storage is in use");

			await page.fill("#new-room-name", "Hearth test room");
			await page.click("#new-room button");
			await page.locator("#rooms li", { hasText: "Hearth test room" }).waitFor({ timeout: 30000 });
			roomId = await page.evaluate(() => window.hearthShell.roomId);
			assert.match(roomId, /^!/);
			for (const body of twenty) {
				await page.fill("#composer-text", body);
				await page.press("#composer-text", "Enter");
			}
			await waitForBodies(page, twenty);
		});

		test("reload keeps the room and the messages", async () => {
			await page.reload();
			await waitForChat(page);
			await page.locator("#rooms li", { hasText: "Hearth test room" }).waitFor({ timeout: 30000 });
			await waitForBodies(page, twenty);
			const st = await status(page);
			assert.equal(st.storage, want);
			assert.equal(st.owner, true);
		});

		test("a second tab is served by the owner tab and takes over when it closes", async () => {
			const page2 = await openShell("tab 2");
			await waitForChat(page2);
			await page2.locator("#rooms li", { hasText: "Hearth test room" }).waitFor({ timeout: 30000 });
			await waitForBodies(page2, twenty);
			let st = await status(page2);
			assert.equal(st.owner, false, "the second tab does not run the homeserver");
			assert.equal(st.storage, want);
			assert.equal(await page2.evaluate(() => window.hearthShell.hs.owner), false);

			await page.close();
			page = page2;
			await page.waitForFunction(() => window.hearthShell.hs.owner === true, null, { timeout: 60000 });
			st = await status(page);
			assert.equal(st.owner, true, "the second tab took over");
			await page.fill("#composer-text", "after takeover");
			await page.press("#composer-text", "Enter");
			await waitForBodies(page, [...twenty, "after takeover"]);
		});

		let exported;
		let native;
		test("the exported database opens with hearth serve, same rooms, messages, keys and users", async () => {
			const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
			exported = path.join(work, "tab-export.db");
			await download.saveAs(exported);
			const head = fs.readFileSync(exported).subarray(0, 16).toString("latin1");
			assert.equal(head, "SQLite format 3\0");
			const tabEvents = await timelineBodies(page);
			const tabKey = await page.evaluate(async () => (await window.hearthShell.hs.fetch("/_matrix/key/v2/server")).json());

			const dataDir = path.join(work, "native");
			await hearth("db", "import", "--data-dir", dataDir, exported);
			native = await startNative({ dataDir, serverName });
			const c = new Client(native.base);
			const login = await c.login(owner.name, owner.password);
			assert.equal(login.user_id, `@${owner.name}:${serverName}`);
			const joined = await c.req("GET", "/_matrix/client/v3/joined_rooms");
			assert.deepEqual(joined.joined_rooms, [roomId]);
			const msgs = await c.messages(roomId);
			assert.deepEqual(msgs.map((e) => e.content.body), [...twenty, "after takeover"]);
			assert.deepEqual(msgs.map((e) => e.event_id), tabEvents.map((e) => e.id), "the same events");
			const nativeKey = await c.req("GET", "/_matrix/key/v2/server");
			assert.deepEqual(Object.keys(nativeKey.verify_keys), Object.keys(tabKey.verify_keys));
			assert.deepEqual(nativeKey.verify_keys, tabKey.verify_keys, "the same signing key");
		});

		test("a database exported by hearth db export imports into the tab", async () => {
			const c = new Client(native.base);
			await c.login(owner.name, owner.password);
			const { room_id: nativeRoom } = await c.req("POST", "/_matrix/client/v3/createRoom", { name: "Native room" });
			await c.send(nativeRoom, "from native");
			await native.stop();
			const file = path.join(work, "native-export.db");
			await hearth("db", "export", "--data-dir", native.dataDir, file);

			const reloaded = page.waitForEvent("load", { timeout: 120000 });
			await page.setInputFiles("#import-file", file);
			await reloaded;
			await waitForChat(page);
			await page.locator("#rooms li", { hasText: "Native room" }).click({ timeout: 30000 });
			await waitForBodies(page, ["from native"]);
			await page.locator("#rooms li", { hasText: "Hearth test room" }).click();
			await waitForBodies(page, [...twenty, "after takeover"]);
			const st = await status(page);
			assert.equal(st.storage, want);
			assert.equal(st.serverName, serverName);
		});
	});
}
