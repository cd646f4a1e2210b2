#!/usr/bin/env node
// run-go-test.mjs runs a Go program compiled for GOOS=js GOARCH=wasm (usually
// a test binary from `go test -c`) inside a dedicated Web Worker in headless
// Chromium, streams its stdout and stderr here, and exits with its exit code.
//
// Usage:
//
//	node test/browser/run-go-test.mjs [options] <prog.wasm> [program args...]
//
// Options (before the wasm file; everything after it goes to the program):
//
//	--env K=V          set an environment variable in the Go program (repeatable).
//	                   Every HEARTH_* variable of this process is passed too.
//	--phases a,b,...   run the program once per phase, each time in a new page
//	                   and a new worker, with HEARTH_TEST_PHASE set to the phase.
//	                   Storage (OPFS, IndexedDB) carries over from one phase to
//	                   the next; the first failing phase ends the run.
//	--restart-browser  with --phases: close the browser between phases and
//	                   start it again on the same profile directory.
//	--timeout S        give up on one run after S seconds (default 1200).
//	--chromium PATH    the browser (default $HEARTH_CHROMIUM or /usr/bin/chromium).
//
// A program that prints the line "HEARTH-TEST: terminate-worker" on stdout
// has its worker terminated on the spot, as a crash would stop it; that run
// counts as passed. The next phase then finds whatever the storage kept.
//
// Pages are served from 127.0.0.1 on a port picked by the system, and the
// browser profile is a fresh temporary directory removed at the end, so each
// invocation starts with empty storage.

import { execFileSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const killMarker = "HEARTH-TEST: terminate-worker";

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

function usage(msg) {
	if (msg) {
		process.stderr.write(`run-go-test: ${msg}\n`);
	}
	process.stderr.write("usage: run-go-test.mjs [--env K=V]... [--phases a,b] [--restart-browser] [--timeout S] [--chromium PATH] <prog.wasm> [args...]\n");
	process.exit(2);
}

export function parseArgs(argv) {
	const opts = {
		env: {},
		phases: null,
		restartBrowser: false,
		timeout: 1200,
		chromium: process.env.HEARTH_CHROMIUM || "/usr/bin/chromium",
		wasm: null,
		args: [],
	};
	for (const [k, v] of Object.entries(process.env)) {
		if (k.startsWith("HEARTH_") && k !== "HEARTH_CHROMIUM") {
			opts.env[k] = v;
		}
	}
	let i = 0;
	const value = (flag) => {
		if (i + 1 >= argv.length) {
			usage(`${flag} needs a value`);
		}
		return argv[++i];
	};
	for (; i < argv.length; i++) {
		const a = argv[i];
		if (a === "--env") {
			const kv = value(a);
			const eq = kv.indexOf("=");
			if (eq <= 0) {
				usage(`--env wants K=V, got ${JSON.stringify(kv)}`);
			}
			opts.env[kv.slice(0, eq)] = kv.slice(eq + 1);
		} else if (a === "--phases") {
			opts.phases = value(a).split(",").filter((p) => p !== "");
			if (opts.phases.length === 0) {
				usage("--phases is empty");
			}
		} else if (a === "--restart-browser") {
			opts.restartBrowser = true;
		} else if (a === "--timeout") {
			opts.timeout = Number(value(a));
			if (!(opts.timeout > 0)) {
				usage("--timeout wants a positive number of seconds");
			}
		} else if (a === "--chromium") {
			opts.chromium = value(a);
		} else if (a.startsWith("--")) {
			usage(`unknown option ${a}`);
		} else {
			opts.wasm = a;
			opts.args = argv.slice(i + 1);
			break;
		}
	}
	if (!opts.wasm) {
		usage("no wasm file given");
	}
	return opts;
}

function goroot() {
	if (process.env.GOROOT) {
		return process.env.GOROOT;
	}
	return execFileSync("go", ["env", "GOROOT"], { encoding: "utf8" }).trim();
}

// serve starts the static server on 127.0.0.1 and returns it with its base URL.
async function serve(wasmPath) {
	const wasmExec = path.join(goroot(), "lib", "wasm", "wasm_exec.js");
	const files = {
		"/": [path.join(here, "www", "index.html"), "text/html; charset=utf-8"],
		"/index.html": [path.join(here, "www", "index.html"), "text/html; charset=utf-8"],
		"/page.js": [path.join(here, "www", "page.js"), "text/javascript; charset=utf-8"],
		"/worker.js": [path.join(here, "www", "worker.js"), "text/javascript; charset=utf-8"],
		"/memfs.js": [path.join(here, "www", "memfs.js"), "text/javascript; charset=utf-8"],
		"/wasm_exec.js": [wasmExec, "text/javascript; charset=utf-8"],
		"/test.wasm": [wasmPath, "application/wasm"],
	};
	for (const [file] of Object.values(files)) {
		fs.accessSync(file, fs.constants.R_OK);
	}
	const server = http.createServer((req, res) => {
		const url = new URL(req.url, "http://127.0.0.1");
		if (url.pathname === "/favicon.ico") {
			res.writeHead(204).end();
			return;
		}
		const entry = req.method === "GET" ? files[url.pathname] : undefined;
		if (!entry) {
			res.writeHead(req.method === "GET" ? 404 : 405).end();
			return;
		}
		const [file, type] = entry;
		res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
		fs.createReadStream(file).pipe(res);
	});
	server.listen(0, "127.0.0.1");
	await once(server, "listening");
	return { server, base: `http://127.0.0.1:${server.address().port}` };
}

function launch(opts, profile) {
	return chromium.launchPersistentContext(profile, {
		executablePath: opts.chromium,
		headless: true,
		chromiumSandbox: false,
		args: chromiumFlags,
	});
}

// runOnce loads a new page, starts a worker running the program, and
// resolves with {code, killed} once the program exits, the worker is
// terminated on request, or something breaks.
async function runOnce(context, base, opts, env) {
	const page = await context.newPage();
	let finish;
	const done = new Promise((resolve) => { finish = resolve; });
	let settled = false;
	const settle = (result) => {
		if (!settled) {
			settled = true;
			finish(result);
		}
	};
	let line = "";
	const onStdout = (text) => {
		process.stdout.write(text);
		line += text;
		let nl;
		while ((nl = line.indexOf("\n")) >= 0) {
			const l = line.slice(0, nl);
			line = line.slice(nl + 1);
			if (l === killMarker) {
				page.evaluate(() => window.hearthTerminate())
					.then(() => settle({ code: 0, killed: true }),
						(err) => settle({ code: 1, error: `terminating the worker: ${err.message}` }));
			}
		}
	};
	await page.exposeFunction("hearthEvent", (ev) => {
		if (settled) {
			return;
		}
		switch (ev.type) {
		case "out":
			if (ev.fd === 1) {
				onStdout(ev.text);
			} else {
				process.stderr.write(ev.text);
			}
			break;
		case "exit":
			settle({ code: ev.code });
			break;
		case "error":
			settle({ code: 1, error: ev.message });
			break;
		}
	});
	page.on("pageerror", (err) => settle({ code: 1, error: `page error: ${err.message}` }));
	page.on("crash", () => settle({ code: 1, error: "page crashed" }));
	page.on("console", (msg) => {
		if (msg.type() === "error" || msg.type() === "warning") {
			process.stderr.write(`run-go-test: console.${msg.type()}: ${msg.text()}\n`);
		}
	});
	const timer = setTimeout(() => settle({ code: 1, error: `timed out after ${opts.timeout}s` }), opts.timeout * 1000);
	try {
		await page.goto(`${base}/`);
		await page.evaluate(([args, env]) => window.hearthStart(args, env), [opts.args, env]);
	} catch (err) {
		settle({ code: 1, error: `starting the page: ${err.message}` });
	}
	const result = await done;
	clearTimeout(timer);
	await page.close().catch(() => {});
	return result;
}

export async function main(argv) {
	const opts = parseArgs(argv);
	const wasm = path.resolve(opts.wasm);
	const { server, base } = await serve(wasm);
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-chromium-"));
	let context = null;
	let code = 0;
	try {
		context = await launch(opts, profile);
		const phases = opts.phases ?? [null];
		for (let i = 0; i < phases.length; i++) {
			const phase = phases[i];
			if (i > 0 && opts.restartBrowser) {
				await context.close();
				context = null;
				context = await launch(opts, profile);
			}
			const env = { ...opts.env };
			if (phase !== null) {
				env.HEARTH_TEST_PHASE = phase;
				process.stderr.write(`run-go-test: phase ${phase}\n`);
			}
			const result = await runOnce(context, base, opts, env);
			const label = phase === null ? "" : ` phase ${phase}`;
			if (result.error) {
				process.stderr.write(`run-go-test${label}: ${result.error}\n`);
			}
			if (result.killed) {
				process.stderr.write(`run-go-test${label}: worker terminated on request\n`);
			}
			if (result.code !== 0) {
				process.stderr.write(`run-go-test${label}: exit code ${result.code}\n`);
				code = result.code;
				break;
			}
		}
	} catch (err) {
		process.stderr.write(`run-go-test: ${err.stack || err}\n`);
		code = 1;
	} finally {
		if (context) {
			await context.close().catch(() => {});
		}
		server.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
	return code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	process.exitCode = await main(process.argv.slice(2));
}
