// harness.test.mjs checks run-go-test.mjs end to end: it builds the Go test
// binary of ./harnesstest for GOOS=js and runs it in Chromium through the
// harness, looking at exit codes and output. Run with:
//
//	node --test test/browser/harness.test.mjs
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const runner = path.join(here, "run-go-test.mjs");
let dir;
let wasm;

before(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-harness-"));
	wasm = path.join(dir, "harnesstest.wasm");
	execFileSync("go", ["test", "-c", "-o", wasm, "./harnesstest"], {
		cwd: here,
		env: { ...process.env, GOOS: "js", GOARCH: "wasm" },
		stdio: ["ignore", "inherit", "inherit"],
	});
});

after(() => {
	fs.rmSync(dir, { recursive: true, force: true });
});

// run runs the harness with args and resolves with its exit code and output.
function run(args) {
	return new Promise((resolve, reject) => {
		const env = { ...process.env };
		for (const k of Object.keys(env)) {
			if (k.startsWith("HEARTH_") && k !== "HEARTH_CHROMIUM") {
				delete env[k];
			}
		}
		const child = spawn(process.execPath, [runner, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (b) => { stdout += b; });
		child.stderr.on("data", (b) => { stderr += b; });
		child.on("error", reject);
		child.on("close", (code) => resolve({ code, stdout, stderr }));
	});
}

test("a passing test binary exits 0 and streams its output", async () => {
	const r = await run(["--env", "HEARTH_HARNESS_WANT=yes", wasm, "-test.v"]);
	assert.equal(r.code, 0, r.stdout + r.stderr);
	for (const want of ["--- PASS: TestArgsAndEnv", "--- PASS: TestFiles", "--- PASS: Example", "\nPASS\n"]) {
		assert.ok(r.stdout.includes(want), `stdout lacks ${JSON.stringify(want)}:\n${r.stdout}`);
	}
});

test("HEARTH_ variables of the harness reach the program", async () => {
	const child = await new Promise((resolve, reject) => {
		const c = spawn(process.execPath, [runner, wasm, "-test.run", "TestArgsAndEnv", "-test.v"], {
			env: { ...process.env, HEARTH_HARNESS_WANT: "yes" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let out = "";
		c.stdout.on("data", (b) => { out += b; });
		c.stderr.on("data", (b) => { out += b; });
		c.on("error", reject);
		c.on("close", (code) => resolve({ code, out }));
	});
	assert.equal(child.code, 0, child.out);
});

test("a failing test binary exits non-zero", async () => {
	const r = await run(["--env", "HEARTH_HARNESS_FAIL=1", wasm, "-test.run", "TestExitCode"]);
	assert.equal(r.code, 1, r.stdout + r.stderr);
	assert.ok(r.stdout.includes("--- FAIL: TestExitCode"), r.stdout);
});

test("a missing environment variable fails the binary", async () => {
	const r = await run([wasm, "-test.run", "TestArgsAndEnv"]);
	assert.equal(r.code, 1, r.stdout + r.stderr);
});

test("the kill marker terminates the worker and the next phase runs", async () => {
	const r = await run(["--phases", "kill,after", wasm, "-test.run", "TestKill", "-test.v"]);
	assert.equal(r.code, 0, r.stdout + r.stderr);
	assert.ok(r.stderr.includes("phase kill: worker terminated on request"), r.stderr);
	assert.ok(r.stdout.includes("--- PASS: TestKill"), r.stdout);
});

test("a failing phase stops the run", async () => {
	const r = await run(["--phases", "bogus,after", wasm, "-test.run", "TestKill"]);
	assert.equal(r.code, 1, r.stdout + r.stderr);
	assert.ok(!r.stderr.includes("phase after"), r.stderr);
});

test("bad usage exits 2", async () => {
	const r = await run(["--phases"]);
	assert.equal(r.code, 2, r.stderr);
	const r2 = await run(["--no-such-option", wasm]);
	assert.equal(r2.code, 2, r2.stderr);
});
