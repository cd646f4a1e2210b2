#!/usr/bin/env node
// shell-memory.mjs tells what the tab's renderer process holds once the
// homeserver is idle (after the send path's warm-up and --settle seconds):
// its PSS by kind of mapping (the anonymous ones by the size of their
// reservation: V8's wasm memory reserves GiBs, its code spaces and
// PartitionAlloc's pools less), then Chromium's own memory dump of that
// process (trace category memory-infra, level detailed: malloc, V8's heaps
// of the page and the workers, PartitionAlloc, Blink). The dump makes
// every isolate collect its garbage first, so the PSS before it and the
// figures after it tell what was garbage; --gc collects again in the page
// and each worker (CDP's HeapProfiler) and prints PSS once more. It
// asserts nothing (build first: make build, or the quick build):
//
//	node test/browser/shell-memory.mjs [--storage opfs|memory] [--settle SECONDS] [--depth N] [--gc]
//
// Measured on 9b68d81 (load 14): 211.7 MiB idle, 148.0 MiB after the
// dump's collection; a module compiled by compileStreaming and kept,
// without an instance, 124-145 MiB and 63-85 MiB after a collection:
// loading the module leaves ~60 MiB for V8's collector (see
// dropCompileGarbage in web/ui/worker.js).
import fs from "node:fs";
import { launch, startNative } from "./shell-lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : def;
};
const storage = opt("--storage", "opfs");
const settle = Number(opt("--settle", 20));
const depth = Number(opt("--depth", 3));
const mib = (n) => `${(n / (1 << 20)).toFixed(1)} MiB`;
const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

// rendererPids are the renderer processes of the browser on profile,
// with their PSS.
function rendererPids(profile) {
	const out = [];
	for (const d of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
		try {
			const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8");
			if (cmd.includes(`--user-data-dir=${profile}`) && cmd.includes("--type=renderer") && !cmd.includes("--top-chrome-webui")) {
				out.push(Number(d));
			}
		} catch {
			// gone
		}
	}
	return out;
}

// smapsByKind sums a process's PSS by kind of mapping: anonymous, the
// Chromium binary and its libraries, V8's code/heap reservations, shared
// memory, other files.
export function smapsByKind(pid) {
	const text = fs.readFileSync(`/proc/${pid}/smaps`, "utf8");
	const kinds = {};
	let name = "";
	for (const l of text.split("\n")) {
		const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l);
		if (head) {
			name = head[4];
			if (!name) {
				// Anonymous mappings by their reserved size: the wasm
				// memory is a reservation of several GiB (guard regions),
				// V8's heaps and code spaces are smaller reservations.
				const vm = parseInt(head[2], 16) - parseInt(head[1], 16);
				name = `[anon ${head[3]}, reservation ${vm >= 1 << 30 ? ">= 1 GiB" : vm >= 64 << 20 ? "64 MiB-1 GiB" : vm >= 4 << 20 ? "4-64 MiB" : "< 4 MiB"}]`;
			}
			if (name.startsWith("/memfd:") || name.startsWith("/dev/shm")) {
				name = "shared memory (" + name.replace(/\s*\(deleted\)$/, "").replace(/\d+$/, "") + ")";
			} else if (name.startsWith("/")) {
				name = /chromium|\.so/.test(name) ? "chromium binary and libraries" : "other files";
			}
			continue;
		}
		const m = /^Pss:\s+(\d+) kB/.exec(l);
		if (m) {
			kinds[name] = (kinds[name] ?? 0) + Number(m[1]) * 1024;
		}
	}
	return Object.entries(kinds).sort((a, b) => b[1] - a[1]);
}

const hex = (v) => typeof v === "string" ? parseInt(v, 16) : Number(v ?? 0);

// collectGarbage runs a full GC in page and in the workers it can reach
// (attached through CDP's Target domain), and returns their names.
export async function collectGarbage(page) {
	const cdp = await page.context().newCDPSession(page);
	const done = ["page"];
	await cdp.send("HeapProfiler.enable");
	await cdp.send("HeapProfiler.collectGarbage");
	const { targetInfos } = await cdp.send("Target.getTargets");
	for (const t of targetInfos.filter((t) => /worker/.test(t.type))) {
		try {
			const { sessionId } = await cdp.send("Target.attachToTarget", { targetId: t.targetId, flatten: false });
			let n = 0;
			const call = (method) => new Promise((resolve) => {
				const id = ++n;
				const on = (e) => {
					if (e.sessionId === sessionId && JSON.parse(e.message).id === id) {
						cdp.off("Target.receivedMessageFromTarget", on);
						resolve();
					}
				};
				cdp.on("Target.receivedMessageFromTarget", on);
				cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method }) });
			});
			await call("HeapProfiler.enable");
			await call("HeapProfiler.collectGarbage");
			await cdp.send("Target.detachFromTarget", { sessionId });
			done.push(`${t.type} ${t.url.replace(/^.*\//, "")}`);
		} catch (err) {
			done.push(`(not ${t.type} ${t.url}: ${err.message})`);
		}
	}
	return done;
}

export async function memoryDump(browserContext) {
	const cdp = await browserContext.browser()?.newBrowserCDPSession?.() ??
		await browserContext.newCDPSession(browserContext.pages()[0]);
	const events = [];
	cdp.on("Tracing.dataCollected", (e) => events.push(...e.value));
	const done = new Promise((resolve) => cdp.once("Tracing.tracingComplete", resolve));
	await cdp.send("Tracing.start", {
		traceConfig: { includedCategories: ["disabled-by-default-memory-infra"], excludedCategories: ["*"], memoryDumpConfig: { triggers: [] } },
		transferMode: "ReportEvents",
	});
	const r = await cdp.send("Tracing.requestMemoryDump", { deterministic: true, levelOfDetail: "detailed" });
	await cdp.send("Tracing.end");
	await done;
	return { ok: r.success, events };
}

async function main() {
	const web = await startNative({ serverName: "mem-host.test" });
	const browser = await launch();
	try {
		const page = browser.context.pages()[0] ?? await browser.context.newPage();
		await page.goto(`${web.base}/?manual`);
		const st0 = await page.evaluate(async (storage) => {
			const hs = await window.Hearth.start({ serverName: "mem.test", owner: { name: "owner", password: "mem-pw" }, storage });
			window.hs = hs;
			await (await hs.fetch("/_matrix/client/versions")).json();
			return hs.status();
		}, storage);
		// The send path's warm-up runs in a helper worker after the first
		// answer: settle from its end.
		const warmUpEnd = performance.now();
		for (;;) {
			const w = (await page.evaluate(() => window.hs.status())).worker?.warmUp;
			if (!w || w.done || performance.now() - warmUpEnd > 180000) {
				break;
			}
			await new Promise((r) => setTimeout(r, 500));
		}
		const warmUpWait = performance.now() - warmUpEnd;
		await new Promise((r) => setTimeout(r, settle * 1000));
		const st = await page.evaluate(() => window.hs.status());
		const w = st.worker?.warmUp;
		console.log(`warm-up: ${w ? `${w.sends} sends in ${w.ms.toFixed(0)} ms${w.error ? `, error ${w.error}` : ""}, waited ${(warmUpWait / 1000).toFixed(1)} s for its end` : "none"}`);
		console.log(`load average ${loadavg()}; storage ${st0.storage}; settled ${settle} s; wasm memory ${mib(st.wasmMemoryBytes)}, Go heap ${mib(st.goHeapBytes)}, Go sys ${mib(st.goSysBytes)}`);
		const pids = rendererPids(browser.profile);
		const pss = (pid) => Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))[1]) * 1024;
		pids.sort((a, b) => pss(b) - pss(a));
		const tab = pids[0];
		console.log(`renderers: ${pids.map((p) => `${p} ${mib(pss(p))}`).join(", ")}; the tab's is ${tab}`);
		console.log(`\nPSS of the tab's renderer by mapping:`);
		for (const [k, v] of smapsByKind(tab).slice(0, 12)) {
			console.log(`${mib(v).padStart(11)}  ${k}`);
		}
		const { ok, events } = await memoryDump(browser.context);
		if (args.includes("--gc")) {
			// What is garbage: a full GC in the page and in each of its
			// workers (CDP's HeapProfiler.collectGarbage), then PSS again.
			const before = pss(tab);
			for (const t of await collectGarbage(page)) {
				console.log(`collected garbage in ${t}`);
			}
			await new Promise((r) => setTimeout(r, 3000));
			const st2 = await page.evaluate(() => window.hs.status());
			console.log(`\nafter a forced full GC in the page and its workers: tab's renderer PSS ${mib(before)} -> ${mib(pss(tab))}; wasm memory ${mib(st2.wasmMemoryBytes)}`);
			for (const [k, v] of smapsByKind(tab).slice(0, 4)) {
				console.log(`${mib(v).padStart(11)}  ${k}`);
			}
		}
		const dumps = events.filter((e) => e.ph === "v" && e.pid === tab);
		if (!ok || dumps.length === 0) {
			console.log(`no memory dump of ${tab} (ok ${ok}, ${events.length} events, pids ${[...new Set(events.map((e) => e.pid))].join(" ")})`);
			return;
		}
		const allocators = dumps.at(-1).args.dumps.allocators;
		const size = (name) => hex(allocators[name]?.attrs?.size?.value);
		const names = Object.keys(allocators).filter((n) => n.split("/").length <= depth && size(n) >= 256 << 10);
		names.sort();
		console.log(`\nChromium's memory dump of the tab's renderer (allocators of at least 256 KiB, ${depth} levels):`);
		for (const n of names) {
			const eff = allocators[n]?.attrs?.effective_size?.value;
			console.log(`${mib(size(n)).padStart(11)}${eff !== undefined ? ` (effective ${mib(hex(eff))})` : ""}  ${n}`);
		}
		const v8 = Object.keys(allocators).filter((n) => /^v8\/.*(wasm|code)/i.test(n) && size(n) > 0);
		if (v8.length) {
			console.log(`\nV8's code and wasm entries:`);
			for (const n of v8.sort()) {
				console.log(`${mib(size(n)).padStart(11)}  ${n}`);
			}
		}
	} finally {
		await browser.close();
		await web.stop();
	}
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, "/"))) main().catch((err) => {
	console.error(err);
	process.exit(1);
});
