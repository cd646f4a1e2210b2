// shell-lib.mjs: what the browser-shell tests and measurements share: a
// native `bin/hearth serve` on 127.0.0.1 with a fresh data folder, Debian's
// Chromium on a fresh profile, and a small Matrix client-server client for
// the native side.
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "..", "..");
export const hearthBin = process.env.HEARTH_BIN || path.join(repo, "bin", "hearth");

const chromiumFlags = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

export function tempDir(prefix) {
	return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// hearth runs a `bin/hearth` command and resolves with its output.
export async function hearth(...args) {
	const { stdout, stderr } = await promisify(execFile)(hearthBin, args, { timeout: 120000 });
	return stdout + stderr;
}

// startNative starts `hearth serve` on a free port of 127.0.0.1 and resolves
// with {base, dataDir, stop(), rssKiB()}.
export async function startNative({ dataDir = tempDir("hearth-native-"), serverName, extra = [] } = {}) {
	// The port is logged at info level.
	const args = ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "info", ...extra];
	if (serverName) {
		args.push("--server-name", serverName);
	}
	const proc = spawn(hearthBin, args, { stdio: ["ignore", "pipe", "pipe"] });
	let log = "";
	const base = await new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`hearth serve did not start:\n${log}`)), 30000);
		const onData = (d) => {
			log += d;
			const m = /listen=(127\.0\.0\.1:\d+)/.exec(log);
			if (m) {
				clearTimeout(timer);
				resolve(`http://${m[1]}`);
			}
		};
		proc.stdout.on("data", onData);
		proc.stderr.on("data", onData);
		proc.on("exit", (code) => {
			clearTimeout(timer);
			reject(new Error(`hearth serve exited with ${code}:\n${log}`));
		});
	});
	proc.removeAllListeners("exit");
	const exited = new Promise((resolve) => proc.on("exit", resolve));
	return {
		base,
		dataDir,
		log: () => log,
		pid: proc.pid,
		async stop() {
			if (proc.exitCode === null) {
				proc.kill("SIGTERM");
			}
			await exited;
		},
		rssKiB() {
			const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, "utf8"));
			return m ? Number(m[1]) : null;
		},
	};
}

// launch starts Chromium on a fresh profile, with args added to its flags;
// close() removes the profile.
export async function launch({ args = [] } = {}) {
	const profile = tempDir("hearth-shell-chromium-");
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: process.env.HEARTH_CHROMIUM || "/usr/bin/chromium",
		headless: true,
		chromiumSandbox: false,
		acceptDownloads: true,
		args: [...chromiumFlags, ...args],
	});
	return {
		context,
		profile,
		async close() {
			await context.close().catch(() => {});
			fs.rmSync(profile, { recursive: true, force: true });
		},
	};
}

// watchPage forwards a page's errors and warnings to stderr, so a failing
// test shows them.
export function watchPage(page, label) {
	page.on("pageerror", (err) => process.stderr.write(`[${label}] page error: ${err.message}\n`));
	page.on("console", (msg) => {
		if (msg.type() === "error") {
			process.stderr.write(`[${label}] console.${msg.type()}: ${msg.text()}\n`);
		}
	});
	return page;
}

// Client is a minimal Matrix client-server client for the native side.
export class Client {
	constructor(base, token = null) {
		this.base = base;
		this.token = token;
		this.txn = 0;
	}

	async req(method, path, body) {
		const headers = { "Content-Type": "application/json" };
		if (this.token) {
			headers.Authorization = `Bearer ${this.token}`;
		}
		const res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
		const text = await res.text();
		let json;
		try {
			json = JSON.parse(text);
		} catch {
			json = { raw: text };
		}
		if (!res.ok) {
			const err = new Error(`${method} ${path}: ${res.status} ${text}`);
			err.status = res.status;
			err.body = json;
			throw err;
		}
		return json;
	}

	async login(user, password) {
		const r = await this.req("POST", "/_matrix/client/v3/login", {
			type: "m.login.password",
			identifier: { type: "m.id.user", user },
			password,
		});
		this.token = r.access_token;
		this.userId = r.user_id;
		return r;
	}

	async send(roomId, body) {
		const txn = `t${Date.now()}-${++this.txn}`;
		return this.req("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, { msgtype: "m.text", body });
	}

	// messages returns the room's m.room.message events, oldest first.
	async messages(roomId) {
		const r = await this.req("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1000`);
		return r.chunk.filter((e) => e.type === "m.room.message").reverse();
	}
}

// timelineBodies reads the message bodies the shell shows for its room.
export function timelineBodies(page) {
	return page.evaluate(() => [...document.querySelectorAll('#timeline li[data-type="m.room.message"]')]
		.map((li) => ({ id: li.dataset.eventId, body: li.querySelector(".body").textContent })));
}

// waitForBodies waits until the shell's timeline shows exactly want (in
// order), every event sent (a server event ID, not a local echo).
export async function waitForBodies(page, want, timeout = 60000) {
	try {
		await page.waitForFunction((want) => {
			const items = [...document.querySelectorAll('#timeline li[data-type="m.room.message"]')];
			const bodies = items.map((li) => li.querySelector(".body").textContent);
			return bodies.length === want.length && bodies.every((b, i) => b === want[i]) &&
				items.every((li) => li.dataset.eventId.startsWith("$"));
		}, want, { timeout, polling: 200 });
	} catch (err) {
		const got = await timelineBodies(page).catch(() => []);
		throw new Error(`timeline: want ${JSON.stringify(want)}\ngot ${JSON.stringify(got)}\n${err.message}`);
	}
	return timelineBodies(page);
}
