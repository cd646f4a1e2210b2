#!/usr/bin/env node
// build.mjs builds hearth's browser shell into web/dist, which package web
// embeds (web/shell_other.go) and `hearth serve` serves at /:
//
//	node web/build.mjs --wasm bin/shell.wasm [--schema-image FILE] [--out web/dist]
//	                   [--embed web/embedded] [--goroot DIR] [--quick]
//
// It writes
//
//	hearth-<hash>.wasm          the homeserver (GOOS=js build of ./wasm)
//	hearth-schema-<hash>.db     the schema image (cmd/hearth-schemaimage), which
//	                            the worker fetches on a first visit
//	hearth-worker-<hash>.js     the dedicated worker that runs it (ui/worker.js
//	                            with Go's wasm_exec.js)
//	hearth.js                   the Hearth API, an ES module (ui/hearth.js)
//	hearth-sw.js                the service worker (ui/sw.js)
//	app-<hash>.js, app-<hash>.css, index.html
//	                            the page (ui/app.js with matrix-js-sdk)
//
// and beside every file of 1 KiB or more its brotli (.br) and gzip (.gz)
// forms: the folder is ready for static hosting. Names with a content hash
// never change content, so they are served as immutable; the others are
// revalidated. --quick compresses less, for a faster build while working on
// the shell. Everything else in the output folder except README.md is
// removed first.
//
// --embed DIR also writes the files bin/hearth embeds (web/shell_other.go):
// each file once, its brotli form (NAME.br) where dist has one and the file
// itself where it has none; hearth decompresses for the rare client without
// brotli. Everything in DIR but README.md and dot files is replaced.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const ui = path.join(here, "ui");

function parseArgs(argv) {
	const o = { wasm: null, schemaImage: null, out: path.join(here, "dist"), embed: null, goroot: process.env.GOROOT || null, quick: false };
	for (let i = 0; i < argv.length; i++) {
		const v = () => {
			if (i + 1 >= argv.length) {
				throw new Error(`${argv[i]} needs a value`);
			}
			return argv[++i];
		};
		switch (argv[i]) {
		case "--wasm": o.wasm = v(); break;
		case "--schema-image": o.schemaImage = v(); break;
		case "--out": o.out = v(); break;
		case "--embed": o.embed = v(); break;
		case "--goroot": o.goroot = v(); break;
		case "--quick": o.quick = true; break;
		default: throw new Error(`unknown argument ${argv[i]}`);
		}
	}
	if (!o.wasm) {
		throw new Error("usage: build.mjs --wasm FILE [--out DIR] [--goroot DIR]");
	}
	o.goroot ??= execFileSync("go", ["env", "GOROOT"], { encoding: "utf8" }).trim();
	return o;
}

const hash = (b) => createHash("sha256").update(b).digest("hex").slice(0, 16);

// wasmExec resolves the import "go:wasm_exec" to Go's wasm_exec.js.
function wasmExecPlugin(goroot) {
	const file = path.join(goroot, "lib", "wasm", "wasm_exec.js");
	return {
		name: "go-wasm-exec",
		setup(b) {
			b.onResolve({ filter: /^go:wasm_exec$/ }, () => ({ path: file }));
		},
	};
}

async function bundle(entry, options) {
	const r = await esbuild.build({
		entryPoints: [path.join(ui, entry)],
		bundle: true,
		write: false,
		minify: true,
		sourcemap: false,
		target: ["chrome110", "firefox115", "safari16"],
		legalComments: "none",
		logLevel: "warning",
		...options,
	});
	return r.outputFiles.map((f) => ({ path: f.path, contents: Buffer.from(f.contents) }));
}

function compress(file, quick) {
	const data = fs.readFileSync(file);
	if (data.length < 1024) {
		return;
	}
	// Quality 11 for every file, the wasm too: on the 31.5 MB wasm it gives
	// 5.117 MiB against quality 10's 5.323 MiB (-3.9 % of every visitor's
	// download) for about 1.7x the CPU (8 MiB of it: 17.1 s against 10.2 s,
	// so about half a CPU-minute more per build).
	const br = zlib.brotliCompressSync(data, {
		params: {
			[zlib.constants.BROTLI_PARAM_QUALITY]: quick ? 4 : 11,
			[zlib.constants.BROTLI_PARAM_LGWIN]: 24,
			[zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
		},
	});
	fs.writeFileSync(file + ".br", br);
	fs.writeFileSync(file + ".gz", zlib.gzipSync(data, { level: quick ? 4 : 9 }));
}

// emptyDir creates dir, or removes all it holds but README.md and dot files.
function emptyDir(dir) {
	fs.mkdirSync(dir, { recursive: true });
	for (const name of fs.readdirSync(dir)) {
		if (name !== "README.md" && !name.startsWith(".")) {
			fs.rmSync(path.join(dir, name), { recursive: true, force: true });
		}
	}
}

// writeEmbed copies each file of dist into dir once: its .br form where
// there is one, else the file itself.
function writeEmbed(dist, dir) {
	emptyDir(dir);
	const names = new Set(fs.readdirSync(dist));
	for (const name of names) {
		if (name === "README.md" || name.startsWith(".") || /\.(br|gz)$/.test(name)) {
			continue;
		}
		const stored = names.has(`${name}.br`) ? `${name}.br` : name;
		fs.copyFileSync(path.join(dist, stored), path.join(dir, stored));
	}
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	emptyDir(o.out);
	const put = (name, contents) => {
		fs.writeFileSync(path.join(o.out, name), contents);
		return name;
	};

	const wasm = fs.readFileSync(o.wasm);
	const wasmName = put(`hearth-${hash(wasm)}.wasm`, wasm);

	let imageName = null;
	if (o.schemaImage) {
		const image = fs.readFileSync(o.schemaImage);
		imageName = put(`hearth-schema-${hash(image)}.db`, image);
	}

	const [worker] = await bundle("worker.js", {
		format: "iife",
		define: {
			HEARTH_WASM_URL: JSON.stringify(`./${wasmName}`),
			HEARTH_SCHEMA_IMAGE_URL: JSON.stringify(imageName && `./${imageName}`),
		},
		plugins: [wasmExecPlugin(o.goroot)],
		outfile: "worker.js",
	});
	const workerName = put(`hearth-worker-${hash(worker.contents)}.js`, worker.contents);

	const [api] = await bundle("hearth.js", {
		format: "esm",
		define: { HEARTH_WORKER_URL: JSON.stringify(`./${workerName}`) },
		outfile: "hearth.js",
	});
	put("hearth.js", api.contents);

	const [sw] = await bundle("sw.js", { format: "iife", outfile: "sw.js" });
	put("hearth-sw.js", sw.contents);

	const app = await bundle("app.js", {
		format: "esm",
		external: ["/hearth.js"],
		outdir: "app",
		define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
	});
	const appJS = app.find((f) => f.path.endsWith(".js"));
	const appJSName = put(`app-${hash(appJS.contents)}.js`, appJS.contents);
	const css = fs.readFileSync(path.join(ui, "app.css"));
	const cssName = put(`app-${hash(css)}.css`, css);
	const html = fs.readFileSync(path.join(ui, "index.html"), "utf8")
		.replace("%APP_JS%", `/${appJSName}`)
		.replace("%APP_CSS%", `/${cssName}`);
	put("index.html", html);

	for (const name of fs.readdirSync(o.out)) {
		if (/\.(wasm|db|js|css|html)$/.test(name)) {
			compress(path.join(o.out, name), o.quick);
		}
	}
	const list = (dir) => {
		for (const name of fs.readdirSync(dir).sort()) {
			console.log(`${String(fs.statSync(path.join(dir, name)).size).padStart(10)}  ${path.join(dir, name)}`);
		}
	};
	list(o.out);
	if (o.embed) {
		writeEmbed(o.out, o.embed);
		list(o.embed);
	}
}

main().catch((err) => {
	console.error(`build.mjs: ${err.message}`);
	process.exit(1);
});
