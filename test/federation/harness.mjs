// The federation test harness: a test CA with one certificate per loopback
// IP (made with Debian's openssl), and real `bin/hearth serve` processes
// named after their federation listener (`127.0.0.1:PORT`), trusting the CA.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

const here = dirname(fileURLToPath(import.meta.url));
export const hearthBin = process.env.HEARTH_BIN || join(here, "../../bin/hearth");

export function freePort(host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

function openssl(args, cwd) {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

// makeCA writes a CA (ca.pem) and, for each IP, IP.pem / IP.key with that IP
// as its only subject alternative name, into dir. Returns the paths.
export function makeCA(dir, ips) {
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=hearth federation test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  const certs = {};
  for (const ip of ips) {
    const ext = join(dir, `${ip}.ext`);
    writeFileSync(ext, `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", `${ip}.key`, "-out", `${ip}.csr`, "-subj", `/CN=${ip}`], dir);
    openssl(["x509", "-req", "-in", `${ip}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", `${ip}.pem`, "-days", "2", "-extfile", ext], dir);
    certs[ip] = { cert: join(dir, `${ip}.pem`), key: join(dir, `${ip}.key`) };
  }
  return { ca: join(dir, "ca.pem"), certs };
}

// startHearth runs `hearth serve` with its client API on ip:clientPort and
// its federation listener on ip:fedPort, named `ip:fedPort`. The data
// folder and ports are kept in the returned object so restart() brings the
// same server back.
export async function startHearth({ ip, ca, cert, key, dir, fedPort, clientPort, logLevel = "warn" }) {
  const ownDir = !dir; // made here: removed here if the server never answers
  dir ??= tempDir("hearth-fed-");
  fedPort ??= await freePort(ip);
  clientPort ??= await freePort(ip);
  const name = `${ip}:${fedPort}`;
  const config = join(dir, "hearth.yaml");
  writeFileSync(config, [
    `server_name: "${name}"`,
    `listen: "${ip}:${clientPort}"`,
    `data_dir: "${dir}"`,
    `registration: open`,
    `rate_limits: "off"`,
    `log_level: ${logLevel}`,
    `federation:`,
    `  listen: "${ip}:${fedPort}"`,
    `  tls_cert_file: "${cert}"`,
    `  tls_key_file: "${key}"`,
    `  ca_file: "${ca}"`,
    `  allow_private_addresses: true`,
    "",
  ].join("\n"));
  const base = `http://${ip}:${clientPort}`;
  const proc = spawn(hearthBin, ["serve", "--config", config], { stdio: ["ignore", "inherit", "inherit"] });
  let exited = null;
  proc.on("exit", (code, signal) => { exited = code ?? signal; });
  const server = { name, base, dir, proc, ip, ca, cert, key, fedPort, clientPort };
  for (let i = 0; i < 300; i++) {
    if (exited !== null) {
      if (ownDir) removeDir(dir);
      throw new Error(`hearth ${name} exited with ${exited} before answering`);
    }
    try {
      const r = await fetch(`${base}/_matrix/client/versions`);
      if (r.ok) return server;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  if (ownDir) removeDir(dir);
  throw new Error(`hearth ${name} did not answer /versions within 15 s`);
}

export async function stopHearth(server, signal = "SIGTERM") {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const gone = new Promise((r) => server.proc.on("exit", r));
  server.proc.kill(signal);
  await gone;
}

export async function restartHearth(server) {
  await stopHearth(server);
  return startHearth(server);
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}
