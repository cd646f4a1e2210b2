// Runs the real-client scenarios against a real `hearth serve` on
// 127.0.0.1: a fresh data folder, open registration, rate limits off.
//
//   node test/clients/run.mjs [--only jssdk|nio] [--hearth bin/hearth]
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

async function startHearth() {
  const dir = mkdtempSync(join(tmpdir(), "hearth-clients-"));
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
      if (r.ok) return { base, proc, dir };
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
  { name: "nio", cmd: "/usr/bin/python3", argv: (base) => [join(here, "nio_scenario.py"), base] },
];

let failed = 0;
for (const s of scenarios) {
  if (only && s.name !== only) continue;
  const { base, proc, dir } = await startHearth();
  console.log(`== ${s.name} against ${base}`);
  const code = await run(s.cmd, s.argv(base));
  proc.kill("SIGTERM");
  await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  console.log(`== ${s.name}: ${code === 0 ? "ok" : "FAILED (exit " + code + ")"}`);
  if (code !== 0) failed++;
}
process.exit(failed ? 1 : 0);
