#!/usr/bin/env node
// shell-bench.mjs measures the browser host against native hearth and
// prints the figures; it asserts nothing (make bench-browser-shell; build
// first with make build):
//
//	node test/browser/shell-bench.mjs [--sends N] [--reloads N] [--cached-reloads N]
//	                                  [--storage opfs|indexeddb]
//
//   - the wasm's size raw, gzip and brotli (web/dist);
//   - cold start (first visit: fresh browser profile, empty HTTP cache and
//     storage, owner created) and warm starts (reloads) to the first
//     /versions answer, from the page's navigation start: reloads right
//     after the first visit, while the browser is still optimising the
//     wasm's hot functions, and reloads once the browser's code cache for
//     the wasm (Code Cache/wasm in the profile) has stopped growing, which
//     is what a returning visit finds;
//   - where the homeserver's start went (status().startupPhases), the size
//     of the code cache, and the CPU time of the tab's renderer processes;
//   - the first 20 sends in the tab right after its start (the first this
//     profile ran), and again after a reload once the code cache has taken
//     in what the sends made V8 optimise;
//   - sequential sends (PUT /rooms/{id}/send) per second and their median
//     latency: in the tab over hs.fetch, and against a native hearth serve
//     (rate limits off) from the same page (cross-origin fetch) and from Node;
//   - memory: the tab's renderer process (page, worker and service worker,
//     PSS; Chromium's own renderers listed apart) and the homeserver's wasm
//     memory, idle and after the sends; native RSS.
import fs from "node:fs";
import path from "node:path";

import { Client, hearth, launch, repo, startNative, tempDir } from "./shell-lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : def;
};
const sends = Number(opt("--sends", 500));
const reloads = Number(opt("--reloads", 3));
const cachedReloads = Number(opt("--cached-reloads", 2));
const storage = opt("--storage", "opfs");
// --warm-up off|N: the tab's send path warm-up (Hearth.start's warmUp):
// off, or N sends; the default is the page's own.
const warmUpArg = opt("--warm-up", undefined);
const warmUp = warmUpArg === undefined ? undefined : warmUpArg === "off" ? false : Number(warmUpArg);
// warmUpText says how the last start's warm-up went (status().worker.warmUp).
const warmUpText = (w) => !w ? "no warm-up" : w.done ?
	`${w.short ? "short " : ""}warm-up began ${w.startedMs.toFixed(0)} ms after the worker, ${w.sends} sends in ${w.ms.toFixed(0)} ms${w.image ? " (from the schema image)" : ""}${w.error ? `, error: ${w.error}` : ""}` :
	`warm-up began ${w.startedMs.toFixed(0)} ms after the worker, still running`;

// phaseText says where the homeserver's start went (status().startupPhases).
// The SQLite warm-up runs before the Go program first yields to the
// worker's event loop, so it is part of "Go init" (a first visit skips it).
const phaseText = (p) => p ? `: waiting for the old worker's database ${p.busyWaitMs.toFixed(0)} ms, open ${p.openMs.toFixed(0)} ms` +
	`${p.schemaImageBytes ? ` (database from the schema image, ${kib(p.schemaImageBytes)})` : ""}, owner ${p.ownerMs.toFixed(0)} ms${p.ownerHashedAside ? " (password hashed in the helper worker)" : ""}; SQLite warm-up in Go init ${p.warmMs.toFixed(0)} ms${p.askedAfterMs !== undefined ? ` (${p.warmSteps} of its 5 statements; the page asked for the start ${p.askedAfterMs.toFixed(0)} ms after Go began)` : ""}` : "";

// lockText says how the reloaded page came to own the homeserver: when it
// asked for the owner lock, whether the lock was free at once or how long
// it waited, when the page it replaced had let go of it (pagehide), and
// how long the service worker's registration took beside the start.
const lockText = (t) => `owner lock after ${t.ownerWaitMs.toFixed(0)} ms` +
	(t.lockAskedMs === undefined ? "" : ` (asked at ${t.lockAskedMs.toFixed(0)} ms, ${t.lockAtOnce ? "free at once" : `WAITED ${(t.ownerWaitMs - t.lockAskedMs).toFixed(0)} ms; held then by ${t.lockHeldBy ?? "?"}`}` +
	`${t.previousReleaseMs === null ? "" : `; the old page let go at ${t.previousReleaseMs.toFixed(0)} ms`}` +
	`${t.swRegisterMs >= 0 ? `; service worker registered in ${t.swRegisterMs.toFixed(0)} ms` : "; service worker registration still running"})`);

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
// sendPathText says where a tab's sends went, per send, from two
// status() answers around them: the worker's time in Go and posting the
// answers, the Go side's time serving, and the OPFS calls.
function sendPathText(a, b, n) {
	if (!a.worker || !a.fetches || !a.opfs) {
		return "send path: (this build does not report it)";
	}
	const per = (x, y) => ((y - x) / n).toFixed(2);
	return `send path per send: worker in Go ${per(a.worker.goMs, b.worker.goMs)} ms (serving ${per(a.fetches.serveMs, b.fetches.serveMs)} ms, ` +
		`goroutine start ${per(a.fetches.startMs, b.fetches.startMs)} ms, answer ${per(a.fetches.responseMs, b.fetches.responseMs)} ms), ` +
		`posting the answer ${per(a.worker.postMs, b.worker.postMs)} ms, Go running on after the answer ${per(a.worker.afterMs ?? 0, b.worker.afterMs ?? 0)} ms; OPFS writes ${per(a.opfs.writes, b.opfs.writes)} (${(Number(per(a.opfs.writeBytes, b.opfs.writeBytes)) / 1024).toFixed(1)} KiB), ` +
		`reads ${per(a.opfs.reads, b.opfs.reads)}, flushes ${per(a.opfs.flushes, b.opfs.flushes)}`;
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function wasmSizes() {
	const dist = path.join(repo, "web", "dist");
	const wasm = fs.readdirSync(dist).find((n) => /^hearth-[0-9a-f]+\.wasm$/.test(n));
	if (!wasm) {
		throw new Error("web/dist has no wasm: run make build");
	}
	const size = (n) => fs.statSync(path.join(dist, n)).size;
	return { raw: size(wasm), gzip: size(`${wasm}.gz`), brotli: size(`${wasm}.br`) };
}

// descendants lists the pids below pid.
function descendants(pid) {
	const children = new Map();
	for (const d of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(d)) {
			continue;
		}
		try {
			const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			if (!children.has(ppid)) {
				children.set(ppid, []);
			}
			children.get(ppid).push(Number(d));
		} catch {
			// gone
		}
	}
	const out = [];
	const walk = (p) => {
		for (const c of children.get(p) ?? []) {
			out.push(c);
			walk(c);
		}
	};
	walk(pid);
	return out;
}

// pssKiB is a process's proportional set size: its private memory plus
// its share of memory it shares with others (Chromium's processes share a
// lot, which RSS would count once per process).
function pssKiB(pid) {
	try {
		const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
		return m ? Number(m[1]) : 0;
	} catch {
		return 0;
	}
}

// cpuSeconds is the CPU time (user and system) a process has used.
function cpuSeconds(pid) {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return (Number(f[11]) + Number(f[12])) / 100;
	} catch {
		return 0;
	}
}

// renderers lists the renderer processes of the browser running on
// profile, each {pid, pss (bytes), cpu (s), ui}. The page, its dedicated
// worker and the service worker share one (a trace of the tab shows their
// threads in one renderer). Two more belong to Chromium, not to the tab:
// the renderer of its own browser UI, flagged --top-chrome-webui (66-80
// MiB: it hosts chrome://omnibox-popup.top-chrome/, the targets
// Target.getTargets lists as browser_ui; it runs before any page is
// opened, with no page of ours open too), and a spare renderer (about 20
// MiB, a few tens of ms of CPU) that Chromium keeps started for the next
// navigation. ui marks the first.
function renderers(profile) {
	const browserPid = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).find((d) => {
		try {
			const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8");
			return cmd.includes(`--user-data-dir=${profile}`) && !cmd.includes("--type=");
		} catch {
			return false;
		}
	});
	if (!browserPid) {
		return [];
	}
	const out = [];
	for (const pid of descendants(Number(browserPid))) {
		let cmd = "";
		try {
			cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
		} catch {
			continue;
		}
		if (cmd.includes("--type=renderer")) {
			out.push({ pid, pss: pssKiB(pid) * 1024, cpu: cpuSeconds(pid), ui: cmd.includes("--top-chrome-webui") });
		}
	}
	return out.sort((a, b) => b.pss - a.pss);
}

// tabRenderer is the renderer that runs the tab (page, worker, service
// worker): of those that are not Chromium's UI, the one that has used the
// most CPU (the spare has used next to none).
const tabRenderer = (rs) => rs.filter((r) => !r.ui).sort((a, b) => b.cpu - a.cpu)[0];

// rendererPSS is the memory of the tab's renderer.
const rendererPSS = (profile) => tabRenderer(renderers(profile))?.pss ?? 0;

// rendererText says what every renderer holds (PSS), and their CPU time.
const rendererText = (profile) => {
	const rs = renderers(profile);
	const tab = tabRenderer(rs);
	const ui = rs.filter((r) => r.ui);
	const other = rs.filter((r) => r !== tab && !r.ui);
	const sum = (l) => l.reduce((n, r) => n + r.pss, 0);
	return `Chromium's own: browser UI ${mib(sum(ui))}, spare ${other.map((r) => mib(r.pss)).join(" + ") || "none"}; all renderers ${mib(sum(rs))}; ` +
		`renderer CPU ${rs.reduce((n, r) => n + r.cpu, 0).toFixed(1)} s`;
};

// codeCacheBytes is the size of the browser's code cache for wasm: V8
// adds the functions it has optimised (TurboFan) to it, and a later visit
// loads them instead of compiling again.
function codeCacheBytes(profile) {
	const dir = path.join(profile, "Default", "Code Cache", "wasm");
	let n = 0;
	const walk = (d) => {
		let entries = [];
		try {
			entries = fs.readdirSync(d, { withFileTypes: true });
		} catch {
			return;
		}
		for (const e of entries) {
			const p = path.join(d, e.name);
			if (e.isDirectory()) {
				walk(p);
			} else {
				try {
					n += fs.statSync(p).size;
				} catch {
					// gone
				}
			}
		}
	};
	walk(dir);
	return n;
}

// settleCodeCache waits until the tab's renderers are idle (V8 compiles
// the functions it optimises on background threads of the renderer, for
// tens of seconds of CPU on a busy machine) and the wasm code cache has
// not changed for quiet ms, at most limit ms, and returns how long that
// took.
async function settleCodeCache(profile, quiet = 5000, limit = 240000) {
	const began = Date.now();
	const cpu = () => renderers(profile).reduce((n, r) => n + r.cpu, 0);
	let size = codeCacheBytes(profile);
	let used = cpu();
	let since = Date.now();
	while (Date.now() - since < quiet && Date.now() - began < limit) {
		await new Promise((r) => setTimeout(r, 1000));
		const now = codeCacheBytes(profile);
		const c = cpu();
		// Idle: less than a tenth of a core.
		if (now !== size || c - used > 0.1) {
			since = Date.now();
		}
		size = now;
		used = c;
	}
	return Date.now() - began;
}

// startInPage starts the homeserver from a page loaded with ?manual and
// returns the time from navigation start to the first /versions answer.
const startInPage = (page, options) => page.evaluate(async (options) => {
	if (options.warmUp === null) {
		delete options.warmUp;
	}
	const called = performance.now();
	const nav = performance.getEntriesByType("navigation")[0];
	const hs = await window.Hearth.start(options);
	window.hs = hs;
	const res = await hs.fetch("/_matrix/client/versions");
	await res.json();
	const firstVersions = performance.now();
	const st = await hs.status();
	return { firstVersions, called, domReady: nav?.domContentLoadedEventEnd ?? 0, storage: st.storage, timings: st.timings, startupMs: st.startupMs, phases: st.startupPhases, firstAfterMs: st.worker?.firstAfterMs ?? 0 };
}, options);

// sendLoop runs n sequential sends from the page, through hs.fetch (base
// null) or through fetch to base, and returns {perSecond, p50}.
const sendLoop = (page, base, token, roomId, n) => page.evaluate(async ([base, token, roomId, n]) => {
	const doFetch = base ? (p, init) => fetch(base + p, init) : (p, init) => window.hs.fetch(p, init);
	const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
	const lat = [];
	const t0 = performance.now();
	for (let i = 0; i < n; i++) {
		const s = performance.now();
		const res = await doFetch(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/b${t0}-${i}`,
			{ method: "PUT", headers, body: JSON.stringify({ msgtype: "m.text", body: `load ${i}` }) });
		if (res.status !== 200) {
			throw new Error(`send ${i}: ${res.status} ${await res.text()}`);
		}
		await res.arrayBuffer();
		lat.push(performance.now() - s);
	}
	const total = performance.now() - t0;
	lat.sort((a, b) => a - b);
	return { perSecond: n / (total / 1000), p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)], max: lat[lat.length - 1] };
}, [base, token, roomId, n]);

const loginAndRoom = (page, base) => page.evaluate(async (base) => {
	const doFetch = base ? (p, init) => fetch(base + p, init) : (p, init) => window.hs.fetch(p, init);
	const json = { "Content-Type": "application/json" };
	const login = await (await doFetch("/_matrix/client/v3/login", {
		method: "POST", headers: json,
		body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password: "bench-pw" }),
	})).json();
	const room = await (await doFetch("/_matrix/client/v3/createRoom", {
		method: "POST", headers: { ...json, Authorization: `Bearer ${login.access_token}` }, body: JSON.stringify({ name: "bench" }),
	})).json();
	return { token: login.access_token, roomId: room.room_id };
}, base);

async function nodeSendLoop(base, token, roomId, n) {
	const c = new Client(base, token);
	const lat = [];
	const t0 = performance.now();
	for (let i = 0; i < n; i++) {
		const s = performance.now();
		await c.send(roomId, `node load ${i}`);
		lat.push(performance.now() - s);
	}
	const total = performance.now() - t0;
	lat.sort((a, b) => a - b);
	return { perSecond: n / (total / 1000), p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] };
}

async function main() {
	const out = [];
	const line = (s) => {
		out.push(s);
		console.log(s);
	};
	const sizes = wasmSizes();
	line(`load average ${loadavg()}`);
	line(`warm-up: ${warmUp === undefined ? "the page's default" : warmUp === false ? "off" : `${warmUp} sends`}`);
	line(`wasm: raw ${mib(sizes.raw)} (${sizes.raw} B), gzip ${mib(sizes.gzip)} (${sizes.gzip} B), brotli ${mib(sizes.brotli)} (${sizes.brotli} B)`);

	const web = await startNative({ serverName: "bench-host.test" });
	const browser = await launch();
	try {
		// The tab the browser opened with: another page would be one more
		// renderer process in the memory figures.
		const page = browser.context.pages()[0] ?? await browser.context.newPage();
		await page.goto(`${web.base}/?manual`);
		const cold = await startInPage(page, { serverName: "bench.test", owner: { name: "owner", password: "bench-pw" }, storage, warmUp: warmUp ?? null });
		line(`cold start (first visit, ${cold.storage}): first /versions at ${cold.firstVersions.toFixed(0)} ms after navigation start ` +
			`(page ready ${cold.domReady.toFixed(0)} ms, Hearth.start called at ${cold.called.toFixed(0)} ms; worker script ${cold.timings.workerMs.toFixed(0)} ms, fetch+compile wasm ${cold.timings.compileMs.toFixed(0)} ms, ` +
			`Go init ${cold.timings.goInitMs.toFixed(0)} ms, homeserver start ${cold.startupMs.toFixed(0)} ms${phaseText(cold.phases)}; ` +
			`Go ran on ${cold.firstAfterMs.toFixed(0)} ms after the first answer; load ${loadavg()})`);
		const warmStart = async (label) => {
			const cache = codeCacheBytes(browser.profile);
			await page.reload();
			await page.waitForFunction(() => window.Hearth !== undefined);
			const warm = await startInPage(page, { storage, warmUp: warmUp ?? null });
			line(`warm start (${label}, code cache ${mib(cache)}): first /versions at ${warm.firstVersions.toFixed(0)} ms ` +
				`(page ready ${warm.domReady.toFixed(0)} ms, worker started at ${(warm.timings.workerCreatedMs ?? 0).toFixed(0)} ms, Hearth.start called at ${warm.called.toFixed(0)} ms, ${lockText(warm.timings)}; fetch+compile wasm ${warm.timings.compileMs.toFixed(0)} ms, Go init ${warm.timings.goInitMs.toFixed(0)} ms, ` +
				`homeserver start ${warm.startupMs.toFixed(0)} ms${phaseText(warm.phases)}; Go ran on ${warm.firstAfterMs.toFixed(0)} ms after the first answer; load ${loadavg()})`);
		};
		for (let i = 1; i <= reloads; i++) {
			await warmStart(`reload ${i}`);
		}

		await new Promise((r) => setTimeout(r, 2000));
		let st = await page.evaluate(() => window.hs.status());
		line(`tab memory 2 s after the reloads: tab's renderer PSS ${mib(rendererPSS(browser.profile))} (${rendererText(browser.profile)}), wasm memory ${mib(st.wasmMemoryBytes)}, ` +
			`Go heap ${mib(st.goHeapBytes)} (Go sys ${mib(st.goSysBytes)})`);

		// A returning visit: the browser has finished optimising what the
		// last start ran and has stored it in its code cache.
		if (cachedReloads > 0) {
			const waited = await settleCodeCache(browser.profile);
			line(`code cache settled at ${mib(codeCacheBytes(browser.profile))} after ${(waited / 1000).toFixed(0)} s`);
			// A returning visit comes after a session that lived on past its
			// send path warm-up: the page remembers the warm-up 30 s after it
			// ended (worker.js, warmRememberMs), and later starts skip it.
			if (warmUp === undefined) {
				const remembered = await page.waitForFunction(() => localStorage.getItem("hearth.warmedUp"), null, { timeout: 90000 })
					.then((h) => h.jsonValue(), () => null);
				line(`warm-up remembered by the page: ${remembered ?? "no (not within 90 s)"}`);
			}
			for (let i = 1; i <= cachedReloads; i++) {
				await warmStart(`cached reload ${i}`);
			}
			await settleCodeCache(browser.profile);
			st = await page.evaluate(() => window.hs.status());
			line(`tab memory idle (compilation settled): tab's renderer PSS ${mib(rendererPSS(browser.profile))} (${rendererText(browser.profile)}), wasm memory ${mib(st.wasmMemoryBytes)}, ` +
				`Go heap ${mib(st.goHeapBytes)} (Go sys ${mib(st.goSysBytes)})`);
		}

		// The same load against the tab and a native hearth.
		const tab = await loginAndRoom(page, null);
		// The first sends of a tab that just started (the last reload),
		// before the browser has compiled the send path's code (unless
		// the warm-up did).
		const warmUpBefore = (await page.evaluate(() => window.hs.status())).worker?.warmUp;
		const first = await sendLoop(page, null, tab.token, tab.roomId, 20);
		line(`first 20 sends in the tab after start: ${first.perSecond.toFixed(0)}/s, p50 ${first.p50.toFixed(2)} ms, max ${first.max.toFixed(0)} ms (${warmUpText(warmUpBefore)}; load ${loadavg()})`);
		const dir = tempDir("hearth-bench-");
		fs.writeFileSync(path.join(dir, "seed.db"), Buffer.from(await page.evaluate(async () =>
			Array.from(new Uint8Array(await (await window.hs.exportDatabase()).arrayBuffer())))));
		await hearth("db", "import", "--data-dir", path.join(dir, "native"), path.join(dir, "seed.db"));
		const native = await startNative({ dataDir: path.join(dir, "native"), serverName: "bench.test", extra: ["--rate-limits", "off"] });
		const nativeRSSIdle = native.rssKiB() * 1024;
		const nat = await loginAndRoom(page, native.base);

		const before = await page.evaluate(() => window.hs.status());
		const tabRun = await sendLoop(page, null, tab.token, tab.roomId, sends);
		line(`sends in the tab (hs.fetch, ${storage}): ${tabRun.perSecond.toFixed(0)}/s, p50 ${tabRun.p50.toFixed(2)} ms, p99 ${tabRun.p99.toFixed(2)} ms (${sends} sequential)`);
		line(sendPathText(before, await page.evaluate(() => window.hs.status()), sends));
		const natPage = await sendLoop(page, native.base, nat.token, nat.roomId, sends);
		line(`sends native from the page (fetch): ${natPage.perSecond.toFixed(0)}/s, p50 ${natPage.p50.toFixed(2)} ms, p99 ${natPage.p99.toFixed(2)} ms`);
		const natNode = await nodeSendLoop(native.base, nat.token, nat.roomId, sends);
		line(`sends native from Node: ${natNode.perSecond.toFixed(0)}/s, p50 ${natNode.p50.toFixed(2)} ms, p99 ${natNode.p99.toFixed(2)} ms`);
		line(`tab / native (same page, same load): ${(tabRun.perSecond / natPage.perSecond).toFixed(2)}; tab / native from Node: ${(tabRun.perSecond / natNode.perSecond).toFixed(2)}`);

		st = await page.evaluate(() => window.hs.status());
		line(`tab memory after ${sends} sends: tab's renderer PSS ${mib(rendererPSS(browser.profile))} (${rendererText(browser.profile)}), wasm memory ${mib(st.wasmMemoryBytes)}, ` +
			`Go heap ${mib(st.goHeapBytes)}, database ${kib(st.databaseBytes)}`);
		line(`native RSS: idle ${mib(nativeRSSIdle)}, after ${2 * sends} sends ${mib(native.rssKiB() * 1024)}`);

		// The first sends above are the first this browser profile ever
		// ran: the code cache holds only what the starts optimised. A
		// returning visit of someone who sent before finds the send path
		// optimised too.
		if (cachedReloads > 0) {
			await settleCodeCache(browser.profile);
			await warmStart("reload after sends, code cache settled");
			const again = await sendLoop(page, null, tab.token, tab.roomId, 20);
			line(`first 20 sends after that reload: ${again.perSecond.toFixed(0)}/s, p50 ${again.p50.toFixed(2)} ms, max ${again.max.toFixed(0)} ms (load ${loadavg()})`);
			// The code cache now holds the send path as well, and a start
			// loads all of it.
			await settleCodeCache(browser.profile);
			await warmStart("reload with that code cache");
			await settleCodeCache(browser.profile);
			st = await page.evaluate(() => window.hs.status());
			line(`tab memory idle after it (code cache ${mib(codeCacheBytes(browser.profile))}): tab's renderer PSS ${mib(rendererPSS(browser.profile))} (${rendererText(browser.profile)}), wasm memory ${mib(st.wasmMemoryBytes)}`);
		}
		await native.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	} finally {
		await browser.close();
		await web.stop();
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
