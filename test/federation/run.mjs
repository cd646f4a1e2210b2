// Runs the federation tests against real `hearth serve` processes on
// loopback, with TLS from a test CA made here:
//
//   node test/federation/run.mjs [--only selftest|peer|servers] [--peer-steps a,b] [--server-steps a,b]
//
// selftest  two independent peers (test/federation/peer.py) federate with
//           each other: the peer's own signing and checks agree and refuse
//           forgeries (no hearth involved).
// peer      hearth `127.0.0.1:PORT` against the independent peer
//           `127.0.0.3:PORT` (test/federation/peer_test.py).
// servers   two hearths, `127.0.0.1:PORT` and `127.0.0.2:PORT`, each driven
//           by its own matrix-js-sdk client (test/federation/two_servers.mjs).
//
// --peer-steps and --server-steps run only the named steps (the ones known
// to pass go into `make test`); every step's result is printed. Exits
// non-zero if a selected step fails.
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCA, tempDir, removeDir, startHearth, stopHearth, freePort } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const only = opt("--only", "");
// (not console.log: the js-sdk scenario silences the console in this process)
const say = (line) => process.stdout.write(line + "\n");
const peerSteps = opt("--peer-steps", "");
const serverSteps = opt("--server-steps", "");

function run(cmd, argv) {
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: "inherit", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
    p.on("exit", (code) => resolve(code ?? 1));
  });
}

const work = tempDir("hearth-fed-ca-");
const { ca, certs } = makeCA(work, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
const started = [];
async function hearth(ip) {
  const s = await startHearth({ ip, ca, ...certs[ip] });
  started.push(s);
  return s;
}

const scenarios = {
  async selftest() {
    return run("/usr/bin/python3", [join(here, "peer_selftest.py"), "--ca", ca, "--certs", work,
      "--ips", "127.0.0.3,127.0.0.4"]);
  },
  async peer() {
    const a = await hearth("127.0.0.1");
    const port = await freePort("127.0.0.3");
    say(`   hearth ${a.name} (client API ${a.base}), peer 127.0.0.3:${port}`);
    return run("/usr/bin/python3", [join(here, "peer_test.py"), "--hearth", a.name, "--client", a.base,
      "--ca", ca, "--cert", certs["127.0.0.3"].cert, "--key", certs["127.0.0.3"].key,
      "--listen", `127.0.0.3:${port}`, ...(peerSteps ? ["--steps", peerSteps] : [])]);
  },
  async servers() {
    const a = await hearth("127.0.0.1");
    const b = await hearth("127.0.0.2");
    say(`   hearth ${a.name} (${a.base}) and ${b.name} (${b.base})`);
    const { runTwoServers } = await import("./two_servers.mjs");
    return (await runTwoServers({ a, b, only: serverSteps.split(",").filter(Boolean) })) ? 1 : 0;
  },
};

let failed = 0;
try {
  for (const [name, fn] of Object.entries(scenarios)) {
    if (only && !only.split(",").includes(name)) continue;
    say(`== federation: ${name}`);
    let code;
    try {
      code = await fn();
    } catch (e) {
      say(`   ${e.stack || e}`);
      code = 1;
    }
    while (started.length) {
      const s = started.pop();
      await stopHearth(s);
      removeDir(s.dir);
    }
    say(`== federation: ${name}: ${code === 0 ? "ok" : "FAILED (exit " + code + ")"}`);
    if (code !== 0) failed++;
  }
} finally {
  for (const s of started) await stopHearth(s, "SIGKILL");
  removeDir(work);
}
process.exit(failed ? 1 : 0);
