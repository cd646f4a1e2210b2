// Runs the real-client scenarios against a real `hearth serve` on
// 127.0.0.1: a fresh data folder, open registration, rate limits off.
//
//   node test/clients/run.mjs [--only jssdk|slidingsync|nio|events] [--hearth bin/hearth]
//
// A scenario with `admin: true` gets a server admin, created with
// `hearth user create --admin` before the server starts and logged in over
// HTTP; its argv function receives { user_id, access_token } after the base.
//
// Exits non-zero if the server fails to start or any scenario fails.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const hearthBin = opt("--hearth", join(here, "../../bin/hearth"));
const only = opt("--only", "");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

const ADMIN_NAME = "admin";
const ADMIN_PASSWORD = "admin-password-" + process.pid;

// createAdmin adds a server admin to the data folder with the CLI.
function createAdmin(dir) {
  return new Promise((resolve, reject) => {
    const p = spawn(hearthBin, ["user", "create", "--data-dir", dir, "--server-name", "localhost",
      "--name", ADMIN_NAME, "--admin", "--password-stdin"], { stdio: ["pipe", "inherit", "inherit"] });
    p.stdin.end(ADMIN_PASSWORD + "\n");
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`hearth user create exited with ${code}`))));
  });
}

// loginAdmin logs the admin in with its password.
async function loginAdmin(base) {
  const r = await fetch(`${base}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: ADMIN_NAME }, password: ADMIN_PASSWORD }),
  });
  const body = await r.json();
  if (!r.ok || !body.access_token) throw new Error(`admin login: ${r.status} ${JSON.stringify(body)}`);
  return { user_id: body.user_id, access_token: body.access_token };
}

async function startHearth({ admin = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "hearth-clients-"));
  if (admin) await createAdmin(dir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(hearthBin, ["serve", "--data-dir", dir, "--listen", `127.0.0.1:${port}`,
    "--server-name", "localhost", "--registration", "open", "--rate-limits", "off", "--log-level", "warn"],
    { stdio: ["ignore", "inherit", "inherit"] });
  let exited = null;
  proc.on("exit", (code) => { exited = code; });
  for (let i = 0; i < 200; i++) {
    if (exited !== null) throw new Error(`hearth exited with ${exited} before answering`);
    try {
      const r = await fetch(`${base}/_matrix/client/versions`);
      if (r.ok) return { base, proc, dir, admin: admin ? await loginAdmin(base) : null };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error("hearth did not answer /versions within 10 s");
}

function run(cmd, argv) {
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: "inherit" });
    p.on("exit", (code) => resolve(code ?? 1));
  });
}

const scenarios = [
  { name: "jssdk", cmd: process.execPath, argv: (base) => [join(here, "jssdk.mjs"), base] },
  // Simplified sliding sync (MSC4186) through matrix-js-sdk's SlidingSync.
  { name: "slidingsync", cmd: process.execPath, argv: (base) => [join(here, "slidingsync.mjs"), base] },
  { name: "nio", cmd: "/usr/bin/python3", argv: (base) => [join(here, "nio_scenario.py"), base] },
  // Hashes, signatures, event IDs and v12 room IDs checked independently
  // (Debian's python3-signedjson, -canonicaljson, -unpaddedbase64, -nacl).
  {
    name: "events", cmd: "/usr/bin/python3", admin: true,
    argv: (base, admin) => [join(here, "verify_events.py"), base, admin.access_token],
  },
];

let failed = 0;
for (const s of scenarios) {
  if (only && s.name !== only) continue;
  const { base, proc, dir, admin } = await startHearth({ admin: !!s.admin });
  console.log(`== ${s.name} against ${base}`);
  const code = await run(s.cmd, s.argv(base, admin));
  proc.kill("SIGTERM");
  await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  console.log(`== ${s.name}: ${code === 0 ? "ok" : "FAILED (exit " + code + ")"}`);
  if (code !== 0) failed++;
}
process.exit(failed ? 1 : 0);
