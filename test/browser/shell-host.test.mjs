// shell-host.test.mjs: the page at a native hearth's address is a client
// of that hearth (the first owner registered with the setup token, then
// signing in with its accounts, the same chat view), with the homeserver in
// the tab as the second choice; the same page on static hosting (web/dist
// served by a plain file server) offers only the homeserver in the tab.
//
//	node --test test/browser/shell-host.test.mjs   (after make build)
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { Client, launch, repo, startNative, waitForBodies, watchPage } from "./shell-lib.mjs";

const owner = { name: "owner", password: "correct horse battery" };
const serverName = "native-host.test";

// staticServer serves web/dist as static hosting would: files only.
async function staticServer() {
	const dist = path.join(repo, "web", "dist");
	const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };
	const server = http.createServer((req, res) => {
		const name = new URL(req.url, "http://x").pathname.slice(1) || "index.html";
		const file = path.join(dist, path.basename(name));
		if (name.includes("/") || !fs.existsSync(file) || name === "README.md") {
			res.writeHead(404).end("not found");
			return;
		}
		res.writeHead(200, { "Content-Type": types[path.extname(file)] ?? "application/octet-stream" });
		fs.createReadStream(file).pipe(res);
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

describe("the page at a native hearth's address", { timeout: 600000 }, () => {
	let web;
	let browser;
	let statics;

	before(async () => {
		web = await startNative({ serverName });
		statics = await staticServer();
		browser = await launch();
	});

	after(async () => {
		await browser?.close();
		await web?.stop();
		await statics?.close();
	});

	const waitForChat = async (p) => {
		await p.locator("#chat").waitFor({ state: "visible", timeout: 60000 });
		await p.waitForFunction(() => ["PREPARED", "SYNCING"].includes(document.body.dataset.sync), null, { timeout: 60000 });
	};

	let page;
	let roomId;
	test("the first owner registers with the setup token and chats with the native server", async () => {
		const token = /setup_token=(\S+)/.exec(web.log())?.[1];
		assert.ok(token, `no setup token in the log:\n${web.log()}`);
		page = watchPage(await browser.context.newPage(), "native");
		await page.goto(`${web.base}/`);
		await page.locator("#host-setup").waitFor({ state: "visible", timeout: 60000 });
		assert.equal(await page.textContent("#host-name"), serverName);
		assert.equal(await page.isVisible("#setup"), false, "the tab's homeserver is not the first view");
		assert.equal(await page.isVisible("#choose-tab"), true, "the tab's homeserver is the second choice");

		await page.fill("#host-setup-name", owner.name);
		await page.fill("#host-setup-password", owner.password);
		await page.fill("#host-setup-token", "not-the-token");
		await page.click("#host-setup-submit");
		await page.locator("#error").waitFor({ state: "visible", timeout: 30000 });
		await page.fill("#host-setup-token", token);
		await page.click("#host-setup-submit");
		await waitForChat(page);
		assert.equal(await page.textContent("#whoami"), `@${owner.name}:${serverName}`);
		assert.equal(await page.evaluate(() => window.hearthShell.mode), "native");
		assert.equal(await page.evaluate(() => window.hearthShell.hs), null, "no homeserver runs in the tab");

		await page.fill("#new-room-name", "Native room");
		await page.click("#new-room button");
		await page.locator("#rooms li", { hasText: "Native room" }).waitFor({ timeout: 30000 });
		roomId = await page.evaluate(() => window.hearthShell.roomId);
		await page.fill("#composer-text", "from the page");
		await page.press("#composer-text", "Enter");
		await waitForBodies(page, ["from the page"]);

		// The native server holds the room and the message, and its
		// messages reach the page.
		const c = new Client(web.base);
		await c.login(owner.name, owner.password);
		assert.deepEqual((await c.messages(roomId)).map((e) => e.content.body), ["from the page"]);
		await c.send(roomId, "from node");
		await waitForBodies(page, ["from the page", "from node"]);
	});

	test("signing in with the native server's account, after the session is gone", async () => {
		await page.evaluate(() => localStorage.removeItem("hearth.native.session"));
		await page.reload();
		await page.locator("#login").waitFor({ state: "visible", timeout: 60000 });
		assert.equal(await page.isVisible("#host-setup"), false, "the server has an owner");
		await page.fill("#login-user", owner.name);
		await page.fill("#login-password", owner.password);
		await page.click("#login button[type=submit]");
		await waitForChat(page);
		await page.locator("#rooms li", { hasText: "Native room" }).click({ timeout: 30000 });
		await waitForBodies(page, ["from the page", "from node"]);
		await page.reload();
		await waitForChat(page);
		await page.locator("#rooms li", { hasText: "Native room" }).waitFor({ timeout: 30000 });
		assert.equal(await page.evaluate(() => window.hearthShell.mode), "native", "the session is kept");
	});

	test("on static hosting the page offers the homeserver in the tab first", async () => {
		const p = watchPage(await browser.context.newPage(), "static");
		await p.goto(`${statics.base}/`);
		await p.locator("#setup").waitFor({ state: "visible", timeout: 120000 });
		assert.equal(await p.isVisible("#host"), false);
		assert.equal(await p.inputValue("#setup-server"), "127.0.0.1");
		assert.equal(await p.evaluate(() => window.hearthShell.mode), "tab");
		await p.close();
	});
});
