// fetch.test.mjs: the tab's outbound HTTP client (internal/httpout on the
// browser's fetch) in a Chromium worker, against the loopback server here
// (another origin than the page's, so with CORS as a push gateway or an
// application service would answer): requests and answers, redirects as
// Go's client follows them, a body read as it arrives, compressed answers,
// cancellation before the answer and while its body is read (the server
// sees the connection closed), timeouts and network errors.
//
//	node --test test/browser/fetch.test.mjs   (needs Go and Chromium)
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { after, before, test } from "node:test";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");

// events: "seen:ID" when a request arrives, "closed:ID" when its
// connection closes before the answer ended, "release:ID" to finish a
// stream; waiters long-poll for them.
const events = new Set();
const waiters = [];
function fire(name) {
	events.add(name);
	for (const w of waiters.splice(0)) {
		if (events.has(w.name)) w.resolve();
		else waiters.push(w);
	}
}
function until(name) {
	return events.has(name) ? Promise.resolve() : new Promise((resolve) => waiters.push({ name, resolve }));
}

const cors = {
	"Access-Control-Allow-Origin": "*",
	"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
	"Access-Control-Allow-Headers": "Authorization, Content-Type",
	"Access-Control-Expose-Headers": "X-Echo, Content-Encoding",
};

let other; // the second origin, for cross-origin redirects

function handler(req, res) {
	const u = new URL(req.url, "http://x");
	const id = u.searchParams.get("id");
	if (req.method === "OPTIONS") {
		res.writeHead(204, cors).end();
		return;
	}
	switch (u.pathname) {
		case "/echo": {
			const chunks = [];
			req.on("data", (c) => chunks.push(c));
			req.on("end", () => {
				res.writeHead(200, { ...cors, "Content-Type": "application/json", "X-Echo": "yes" });
				res.end(JSON.stringify({
					method: req.method, path: req.url, authorization: req.headers.authorization ?? "",
					contentType: req.headers["content-type"] ?? "", body: Buffer.concat(chunks).toString(),
				}));
			});
			return;
		}
		case "/status":
			res.writeHead(+u.searchParams.get("code"), cors).end("status");
			return;
		case "/redirect": {
			const code = u.searchParams.get("code");
			const to = (u.searchParams.get("other") ? other : "") + "/echo?from=" + code;
			req.resume();
			res.writeHead(+code, { ...cors, Location: to }).end();
			return;
		}
		case "/gzip":
			res.writeHead(200, { ...cors, "Content-Type": "text/plain", "Content-Encoding": "gzip" });
			res.end(zlib.gzipSync("hearth ".repeat(100)));
			return;
		case "/nocors":
			res.writeHead(200).end("no CORS headers");
			return;
		case "/stream":
			fire("seen:" + id);
			res.on("close", () => { if (!res.writableFinished) fire("closed:" + id); });
			res.writeHead(200, { ...cors, "Content-Type": "text/plain" });
			res.write("first\n");
			until("release:" + id).then(() => res.end("second\n"));
			return;
		case "/hang":
			req.resume();
			fire("seen:" + id);
			res.on("close", () => { if (!res.writableFinished) fire("closed:" + id); });
			return;
		case "/release":
			fire("release:" + id);
			res.writeHead(200, cors).end("ok");
			return;
		case "/seen":
		case "/closed":
			until(u.pathname.slice(1) + ":" + id).then(() => res.writeHead(200, cors).end("ok"));
			return;
	}
	res.writeHead(404, cors).end("not found");
}

async function listen() {
	const server = http.createServer(handler);
	await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
	return server;
}

let servers = [];
let dir;

before(async () => {
	servers = [await listen(), await listen()];
	other = `http://127.0.0.1:${servers[1].address().port}`;
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-fetch-"));
});

after(async () => {
	for (const s of servers) {
		s.closeAllConnections();
		await new Promise((r) => s.close(r));
	}
	fs.rmSync(dir, { recursive: true, force: true });
});

test("internal/httpout's fetch client in a Chromium worker", { timeout: 600000 }, async () => {
	const bin = path.join(dir, "httpout.test.wasm");
	execFileSync("go", ["test", "-c", "-o", bin, "./internal/httpout"], {
		cwd: repo, env: { ...process.env, GOOS: "js", GOARCH: "wasm" }, stdio: "inherit",
	});
	const base = `http://127.0.0.1:${servers[0].address().port}`;
	const run = spawn(process.execPath, [path.join(here, "run-go-test.mjs"), "--env", `HEARTH_FETCH_URL=${base}`,
		bin, "-test.v", "-test.timeout", "300s"], { cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
	let out = "";
	run.stdout.on("data", (d) => { out += d; process.stdout.write(d); });
	const code = await new Promise((resolve) => run.on("exit", resolve));
	assert.equal(code, 0, "the Go tests in Chromium failed");
	assert.match(out, /--- PASS: TestFetchCancelsWhileReadingTheBody/);
	assert.doesNotMatch(out, /--- SKIP/);
});
