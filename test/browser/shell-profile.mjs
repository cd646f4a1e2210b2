#!/usr/bin/env node
// shell-profile.mjs profiles the tab's worker while it starts: a first visit
// (fresh browser profile, owner created) and reloads, each from the
// worker's creation to the first /versions answer, with V8's sampling
// profiler (the Chrome DevTools protocol's Profiler domain on the worker's
// target, attached before the worker runs its first line). It prints where
// the worker's time went by function and by package and writes each
// profile as a .cpuprofile that DevTools opens. A measuring tool; it
// asserts nothing (build first: make build, or the quick build):
//
//	node --experimental-websocket test/browser/shell-profile.mjs [--reloads N]
//	     [--interval µs] [--top N] [--out DIR] [--js-flags FLAGS]
//
// --js-flags passes V8 flags to the renderer (for example
// --trace-wasm-compilation-times, whose lines go to the renderer's
// stdout, written to DIR/renderer.log). Function names need a wasm built
// without -s (the name section); the shipped build has none.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { startNative, tempDir } from "./shell-lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : def;
};
const reloads = Number(opt("--reloads", 2));
const interval = Number(opt("--interval", 100));
const top = Number(opt("--top", 40));
const outDir = opt("--out", tempDir("hearth-profile-"));
const jsFlags = opt("--js-flags", "");
const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// cdp is one WebSocket connection to the browser, with flat sessions.
class CDP {
	constructor(url) {
		this.ws = new WebSocket(url);
		this.next = 1;
		this.calls = new Map();
		this.handlers = [];
		this.ws.onmessage = (e) => {
			const m = JSON.parse(e.data);
			if (m.id && this.calls.has(m.id)) {
				const c = this.calls.get(m.id);
				this.calls.delete(m.id);
				if (m.error) {
					c.reject(new Error(`${c.method}: ${m.error.message}`));
				} else {
					c.resolve(m.result);
				}
				return;
			}
			for (const h of this.handlers) {
				h(m);
			}
		};
		this.open = new Promise((resolve, reject) => {
			this.ws.onopen = resolve;
			this.ws.onerror = reject;
		});
	}

	send(method, params = {}, sessionId = undefined) {
		const id = this.next++;
		this.ws.send(JSON.stringify({ id, method, params, sessionId }));
		return new Promise((resolve, reject) => this.calls.set(id, { resolve, reject, method }));
	}

	on(h) {
		this.handlers.push(h);
	}
}

async function launchBrowser(profile) {
	const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--remote-debugging-port=0", `--user-data-dir=${profile}`];
	if (jsFlags) {
		flags.push(`--js-flags=${jsFlags}`);
	}
	const proc = spawn(process.env.HEARTH_CHROMIUM || "/usr/bin/chromium", [...flags, "about:blank"], { stdio: ["ignore", "pipe", "pipe"] });
	const log = fs.createWriteStream(path.join(outDir, "renderer.log"));
	proc.stdout.pipe(log);
	const url = await new Promise((resolve, reject) => {
		let err = "";
		proc.stderr.on("data", (d) => {
			err += d;
			const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
			if (m) {
				resolve(m[1]);
			}
		});
		proc.on("exit", (code) => reject(new Error(`chromium exited with ${code}: ${err}`)));
	});
	return { proc, url };
}

// summary prints where a profile's samples went.
function summary(label, prof) {
	const byId = new Map(prof.nodes.map((n) => [n.id, n]));
	const self = new Map();
	const total = prof.samples.length;
	const counts = new Map();
	for (const id of prof.samples) {
		counts.set(id, (counts.get(id) ?? 0) + 1);
	}
	for (const [id, c] of counts) {
		const n = byId.get(id);
		const name = n.callFrame.functionName || `(anonymous ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber})`;
		self.set(name, (self.get(name) ?? 0) + c);
	}
	const ms = (prof.endTime - prof.startTime) / 1000;
	const perSample = ms / Math.max(total, 1);
	const pkg = (name) => {
		if (name.startsWith("(")) {
			return name;
		}
		if (/^[a-z_]+$/.test(name) || !name.includes(".")) {
			return `js/builtin ${name.length > 30 ? "" : name}`.trim();
		}
		const slash = name.lastIndexOf("/");
		const dot = name.indexOf(".", slash + 1);
		return dot > 0 ? name.slice(0, dot) : name;
	};
	const byPkg = new Map();
	for (const [name, c] of self) {
		const p = pkg(name);
		byPkg.set(p, (byPkg.get(p) ?? 0) + c);
	}
	const fmt = (c) => `${(c * perSample).toFixed(1)} ms`;
	console.log(`\n== ${label}: ${ms.toFixed(0)} ms profiled, ${total} samples (${perSample.toFixed(3)} ms each), ${self.size} distinct functions sampled`);
	console.log("-- by package (self time)");
	for (const [p, c] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
		console.log(`${fmt(c).padStart(10)}  ${p}`);
	}
	console.log(`-- top ${top} functions (self time)`);
	for (const [n, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
		console.log(`${fmt(c).padStart(10)}  ${n}`);
	}
}

// children are the processes a run started (the native server, the
// browser). A run ended from outside (Ctrl-C, SIGTERM, or its output piped
// into a command that exits first) ends them too; it used to leave both
// running.
const children = [];
function endChildren(code) {
	for (const pid of children) {
		try {
			process.kill(pid, "SIGTERM");
		} catch {
			// gone
		}
	}
	process.exit(code);
}
process.on("SIGINT", () => endChildren(130));
process.on("SIGTERM", () => endChildren(143));
process.stdout.on("error", () => endChildren(1));

async function main() {
	fs.mkdirSync(outDir, { recursive: true });
	console.log(`load average ${loadavg()}; profiles in ${outDir}`);
	const web = await startNative({ serverName: "profile-host.test" });
	children.push(web.pid);
	const profile = tempDir("hearth-profile-chromium-");
	const { proc, url } = await launchBrowser(profile);
	children.push(proc.pid);
	try {
		const cdp = new CDP(url);
		await cdp.open;
		const targets = await cdp.send("Target.getTargets");
		const pageTarget = targets.targetInfos.find((t) => t.type === "page");
		const { sessionId: page } = await cdp.send("Target.attachToTarget", { targetId: pageTarget.targetId, flatten: true });
		await cdp.send("Page.enable", {}, page);
		// A same-origin page first, so that the page the worker starts in
		// stays in this renderer.
		await cdp.send("Page.navigate", { url: `${web.base}/favicon.ico` }, page);
		await new Promise((r) => setTimeout(r, 500));
		// Every worker the page starts waits for us before its first line.
		let workerSeen = null;
		const workers = [];
		cdp.on(async (m) => {
			if (m.method !== "Target.attachedToTarget") {
				return;
			}
			const s = m.params.sessionId;
			const info = m.params.targetInfo;
			if (info.type === "worker" && m.sessionId === page) {
				const w = { session: s, title: info.title, url: info.url, attachedAt: performance.now() };
				workers.push(w);
				await cdp.send("Profiler.enable", {}, s);
				await cdp.send("Profiler.setSamplingInterval", { interval }, s);
				await cdp.send("Profiler.start", {}, s);
				workerSeen?.(w);
			}
			await cdp.send("Runtime.runIfWaitingForDebugger", {}, s).catch(() => {});
		});
		await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, page);
		const evaluate = async (expr) => {
			const r = await cdp.send("Runtime.evaluate", { expression: expr, awaitPromise: true, returnByValue: true }, page);
			if (r.exceptionDetails) {
				throw new Error(`${expr.slice(0, 60)}: ${JSON.stringify(r.exceptionDetails).slice(0, 400)}`);
			}
			return r.result.value;
		};
		const loaded = () => new Promise((resolve) => {
			const h = (m) => {
				if (m.method === "Page.loadEventFired" && m.sessionId === page) {
					cdp.handlers.splice(cdp.handlers.indexOf(h), 1);
					resolve();
				}
			};
			cdp.on(h);
		});
		const startExpr = (o) => `(async () => {
			const hs = await window.Hearth.start(${JSON.stringify(o)});
			window.hs = hs;
			await (await hs.fetch("/_matrix/client/versions")).json();
			const at = performance.now();
			const st = await hs.status();
			return { at, timings: st.timings, startupMs: st.startupMs, phases: st.startupPhases, opfs: st.opfs };
		})()`;
		const run = async (label, navigate, o) => {
			const seen = new Promise((r) => { workerSeen = r; });
			const l = loaded();
			await navigate();
			await l;
			const r = await evaluate(startExpr(o));
			const w = await seen;
			const { profile: prof } = await cdp.send("Profiler.stop", {}, w.session);
			const file = path.join(outDir, `${label.replace(/\W+/g, "-")}.cpuprofile`);
			fs.writeFileSync(file, JSON.stringify(prof));
			console.log(`\n${label}: first /versions at ${r.at.toFixed(0)} ms; ${JSON.stringify(r.timings)}; homeserver start ${r.startupMs?.toFixed(0)} ms ${JSON.stringify(r.phases)}; OPFS calls ${JSON.stringify(r.opfs)}; load ${loadavg()}; ${file}`);
			summary(label, prof);
		};
		await run("cold start", () => cdp.send("Page.navigate", { url: `${web.base}/?manual` }, page),
			{ serverName: "profile.test", owner: { name: "owner", password: "profile-pw" }, storage: "opfs", warmUp: false });
		for (let i = 1; i <= reloads; i++) {
			await new Promise((r) => setTimeout(r, 1000));
			await run(`reload ${i}`, () => cdp.send("Page.reload", {}, page), { storage: "opfs", warmUp: false });
		}
		cdp.ws.close();
	} finally {
		if (proc.exitCode === null && proc.signalCode === null) {
			const exited = new Promise((r) => proc.on("exit", r));
			proc.kill("SIGTERM");
			await exited;
		}
		fs.rmSync(profile, { recursive: true, force: true });
		await web.stop();
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
