// worker.js is the dedicated Web Worker that runs the homeserver: it loads
// hearth's wasm (cmd wasm/, built with GOOS=js GOARCH=wasm) with Go's
// wasm_exec.js and relays the page's calls to the methods the Go program
// installs as globalThis.hearthWasm.
//
// Page to worker: {id, op, arg}, op one of start, fetch, abort (no reply),
// status, export, import, stop. Worker to page: {id, ok: true, value} or
// {id, ok: false, error: {name, code, message}}, and {t: "exit", code} if
// the Go program ends.
//
// The same script also runs as the password helper (a worker named
// hashWorkerName that this worker starts on a first visit): it runs the
// compiled module it is sent once more, to hash the owner's password on
// another thread while the homeserver opens its database.
import "go:wasm_exec";

const hashWorkerName = "hearth-password-hash";
const isHashWorker = self.name === hashWorkerName;
const warmWorkerName = "hearth-warm-up";
const isWarmWorker = self.name === warmWorkerName;
const isHelper = isHashWorker || isWarmWorker;

// HEARTH_WASM_URL is set by build.mjs to the content-hashed wasm file.
const wasmURL = new URL(HEARTH_WASM_URL, self.location.href);
const began = performance.now();
let boot = null;
let timings = null;
let memory = null;
// spent is where the worker's time for fetch calls went, summed since it
// started (status().worker): goMs from handing a request to Go to its
// answer, postMs posting the answers back to the page, afterMs how long
// the Go program kept running after an answer before it returned to the
// event loop (goroutines the request woke; an answer posted after the
// return would have waited that long), and firstAfterMs that time after
// the first answer (when the background services start).
const spent = { fetches: 0, goMs: 0, postMs: 0, afterMs: 0, firstAfterMs: 0 };

// noDatabase tells, while the wasm compiles, whether this origin's OPFS
// holds no database yet (a first visit), where the Go program then skips
// its SQLite warm-up (wasm/warm_js.go).
const noDatabase = (async () => {
	if (isHelper) {
		return false;
	}
	if (typeof FileSystemFileHandle === "undefined" || !FileSystemFileHandle.prototype.createSyncAccessHandle) {
		return false;
	}
	try {
		const root = await navigator.storage.getDirectory();
		await root.getFileHandle("hearth.db");
		return false;
	} catch (err) {
		return err?.name === "NotFoundError";
	}
})();

// schemaImage is the build's schema image (HEARTH_SCHEMA_IMAGE_URL, set by
// build.mjs; storage.SchemaImage): a new database exactly as the migrator
// makes it. On a first visit it is fetched while the wasm compiles, and
// the start copies it into storage instead of running every CREATE and
// schema delta through SQLite on the browser's baseline code. null when
// there is a database already, when the build has no image, or when the
// bytes do not match the hash in its name (the start then creates the
// schema itself).
let schemaImage = (async () => (await noDatabase) ? fetchSchemaImage() : null)();

// fetchSchemaImage fetches the build's schema image and checks it against
// the hash in its name; null if there is none or it does not match.
async function fetchSchemaImage() {
	if (!HEARTH_SCHEMA_IMAGE_URL || !self.crypto?.subtle) {
		return null;
	}
	try {
		const res = await fetch(new URL(HEARTH_SCHEMA_IMAGE_URL, self.location.href));
		if (!res.ok) {
			return null;
		}
		const bytes = new Uint8Array(await res.arrayBuffer());
		const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
		const hex = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
		return HEARTH_SCHEMA_IMAGE_URL.endsWith(`-${hex}.db`) ? bytes : null;
	} catch {
		return null;
	}
}

// compiledModule is the wasm once compiled, for the password helper.
let setModule;
const compiledModule = new Promise((resolve) => { setModule = resolve; });

// hashInHelper hashes the owner's password in a helper worker running the
// same module (wasm/passwordhash_js.go: storage.HashPassword, the server's
// own parameters), on another thread than the start, which meanwhile
// opens the database. hash settles with the PHC string, or null if there
// is no helper or it failed (the start then hashes the password itself);
// stop ends the helper.
function hashInHelper(password) {
	let helper = null;
	const hash = (async () => {
		const module = await compiledModule;
		if (typeof Worker !== "function") {
			return null;
		}
		return new Promise((resolve) => {
			helper = new Worker(self.location.href, { name: hashWorkerName });
			helper.onmessage = (e) => resolve(typeof e.data?.hash === "string" && e.data.hash !== "" ? e.data.hash : null);
			helper.onerror = () => resolve(null);
			// Never wait forever on a helper that did not answer.
			setTimeout(() => resolve(null), 120000);
			helper.postMessage({ module, password });
		});
	})().catch(() => null);
	return { hash, stop: () => helper?.terminate() };
}

// hashMain is the password helper's side: run the module with the
// argument hash-password and post {hash} (or {hash: null, error}).
async function hashMain(e) {
	let posted = false;
	const post = (hash, error) => {
		if (!posted) {
			posted = true;
			postMessage({ hash: hash || null, error: error || null });
		}
	};
	self.hearthHashed = post;
	try {
		const go = new Go();
		go.argv = ["hearth", "hash-password"];
		go.env = { HEARTH_OWNER_PASSWORD: String(e.data.password) };
		go.exit = () => {};
		const instance = await WebAssembly.instantiate(e.data.module, go.importObject);
		await go.run(instance);
	} catch (err) {
		post(null, String(err?.message ?? err));
	}
	post(null, "the helper ended without a hash");
}

// warmUp is the send path's warm-up (wasm/warmsends_js.go), started once
// the homeserver has answered its first request: a helper worker runs the
// compiled module once more on a throwaway in-memory homeserver and sends
// messages there, so the browser has compiled the send and sync path
// (the code is shared with this worker's instance) before the page's first
// sends instead of during them. status().worker.warmUp says how it went:
// {startedMs, ms, sends, image, error, done, short, key} (ms: the
// helper's own time; image: its database started from the schema image;
// short: the short warm-up, as a full one of this build had run before;
// key: the build, once a full warm-up ran to its end), or null.
// A start with warmUp: false (or a number of sends) changes it.
let warmUpSends = null;
let warmUpStarted = false;
// warmUpKey names this build (its content-hashed wasm file). A warm-up
// that ran to its end leaves the send path's optimised (TurboFan) code in
// V8's code cache for the wasm, which later starts of the same build load:
// warmRememberMs after such a warm-up (time for V8 to finish optimising
// what it ran and to write the cache) the worker posts {t: "warmed", key}
// and the page remembers the key (hearth.js); a start given the same key
// back (start's warmedUp) runs a short warm-up of warmShortSends instead.
// Not none: V8 caches only optimised code, and a start that skipped the
// warm-up (the serving instance compiling the rest of the send path on its
// first sends) sent its first 20 at 33/s (load 10), about what a tab
// without any warm-up does. A new build has a new key and warms up fully.
const warmUpKey = wasmURL.pathname;
const warmRememberMs = 30000;
const warmShortSends = 10;
let warmUpRemembered = false;
// warmHelper is the warm-up's worker while it runs. The page's requests
// come first: while one is being served the helper is told to wait
// before its next request (hearthWarmBusy), so it competes for the CPU
// with the tab's homeserver only for the rest of the request it is in.
// A request counts for at most warmYieldMs: a /sync long-poll waits in
// Go without using the thread, and would otherwise hold the warm-up off
// for its whole timeout.
let warmHelper = null;
let warmYoung = 0;
const warmYieldMs = 100;
function warmBusy(on) {
	warmYoung += on ? 1 : -1;
	if (warmHelper && (on ? warmYoung === 1 : warmYoung === 0)) {
		warmHelper.postMessage({ busy: on });
	}
}
// warmRequest marks a request handed to Go and returns the function that
// marks its answer.
function warmRequest() {
	if (!warmHelper) {
		return () => {};
	}
	let open = true;
	const end = () => {
		if (open) {
			open = false;
			warmBusy(false);
		}
	};
	warmBusy(true);
	setTimeout(end, warmYieldMs);
	return end;
}
function warmUpAside() {
	if (warmUpStarted) {
		return;
	}
	if (warmUpSends === 0 || typeof Worker !== "function") {
		return;
	}
	warmUpStarted = true;
	const sends = warmUpSends ?? (warmUpRemembered ? warmShortSends : null);
	const state = { startedMs: performance.now() - began, ms: 0, sends: 0, error: null, done: false, short: warmUpSends === null && warmUpRemembered };
	spent.warmUp = state;
	compiledModule.then((module) => {
		const helper = new Worker(self.location.href, { name: warmWorkerName });
		warmHelper = helper;
		warmYoung = 0;
		const end = (r) => {
			if (state.done) {
				return;
			}
			state.done = true;
			Object.assign(state, { ms: r?.ms ?? 0, sends: r?.sends ?? 0, image: r?.image ?? false, error: r?.error ?? null });
			warmHelper = null;
			helper.terminate();
			if (!state.error && state.sends > 0 && !state.short) {
				state.key = warmUpKey;
				setTimeout(() => postMessage({ t: "warmed", key: warmUpKey }), warmRememberMs);
			}
		};
		helper.onmessage = (e) => end(e.data);
		helper.onerror = (e) => end({ error: String(e?.message ?? "the warm-up worker failed") });
		setTimeout(() => end({ error: "the warm-up did not finish in 120 s" }), 120000);
		helper.postMessage({ module, sends });
	});
}

// warmMain is the warm-up helper's side: run the module with the argument
// warm-up and post what it did ({ms, sends, error}).
async function warmMain(e) {
	if (typeof e.data?.busy === "boolean") {
		self.hearthWarmBusy = e.data.busy;
		return;
	}
	let posted = false;
	const post = (r) => {
		if (!posted) {
			posted = true;
			postMessage(r);
		}
	};
	self.hearthWarmed = post;
	try {
		const go = new Go();
		go.argv = ["hearth", "warm-up"];
		go.env = typeof e.data.sends === "number" ? { HEARTH_WARM_UP_SENDS: String(e.data.sends) } : {};
		go.exit = () => {};
		// The throwaway database starts from the schema image (in the
		// HTTP cache after a first visit) instead of running the schema.
		self.hearthWarmImage = await fetchSchemaImage();
		const instance = await WebAssembly.instantiate(e.data.module, go.importObject);
		await go.run(instance);
	} catch (err) {
		post({ error: String(err?.message ?? err) });
	}
	post({ error: "the warm-up ended without a report" });
}

// dropCompileGarbage makes V8 collect, once the homeserver has started,
// what loading the module left for its collector: ~60 MiB, about twice
// the module (a module compiled alone by compileStreaming and kept held
// 124-145 MiB of the renderer, 63-85 MiB after a collection), freed only
// by a collection that this worker's small JS heap never needs
// (test/browser/shell-memory.mjs measures it: the tab's renderer stayed at
// 208-212 MiB idle, 148 MiB after a collection). An ArrayBuffer past V8's
// external-memory limit (64 MiB above what the last collection left)
// makes V8 collect; its pages are never touched, so it costs no memory,
// and it is garbage at once.
let externalNudge = null;
function dropCompileGarbage() {
	try {
		externalNudge = new ArrayBuffer(64 << 20);
	} catch {
		// No room for it: the garbage waits for V8's own next collection.
	}
	externalNudge = null;
}

// hearthWasm loads and starts the Go program once.
function hearthWasm() {
	if (!boot) {
		boot = (async () => {
			const go = new Go();
			go.argv = ["hearth"];
			go.env = {};
			let exitCode = 0;
			go.exit = (code) => { exitCode = code; };
			const ready = new Promise((resolve) => { self.hearthReady = resolve; });
			const fetched = performance.now();
			const { module, instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
			setModule(module);
			memory = instance.exports.mem;
			const compiled = performance.now();
			if (await noDatabase) {
				go.env.HEARTH_NO_DATABASE = "1";
			}
			go.run(instance).then(() => {
				postMessage({ t: "exit", code: exitCode });
			}, (err) => {
				postMessage({ t: "exit", code: 2, message: String(err?.stack || err) });
			});
			await ready;
			timings = {
				workerMs: fetched - began,
				compileMs: compiled - fetched,
				goInitMs: performance.now() - compiled,
			};
			return self.hearthWasm;
		})();
	}
	return boot;
}

// invoke calls a Go method whose last argument is the callback (err, value).
async function invoke(method, ...args) {
	const hw = await hearthWasm();
	return new Promise((resolve, reject) => {
		hw[method](...args, (err, value) => {
			if (err) {
				const e = new Error(err.message);
				e.code = err.code;
				reject(e);
			} else {
				resolve(value);
			}
		});
	});
}

// The wasm loads as soon as the worker runs: a page starts its worker
// before it asks for the homeserver (see hearth.js), and compiling and
// initialising the program overlap with the page's own loading.
if (!isHelper) {
	hearthWasm().catch(() => {}); // reported by the first call
}

const ops = {
	async start(o) {
		if (o?.warmUp === false) {
			warmUpSends = 0;
		} else if (typeof o?.warmUp === "number" && o.warmUp >= 0) {
			warmUpSends = Math.floor(o.warmUp);
		} else if (o?.warmedUp === warmUpKey) {
			warmUpRemembered = true;
		}
		const image = await schemaImage;
		const opts = { ...o, schemaImage: image ?? undefined };
		// A first visit creates the owner: its password is hashed in the
		// helper while the start opens the database.
		let helper = null;
		if (image && typeof o?.owner?.password === "string" && o.owner.password !== "") {
			helper = hashInHelper(o.owner.password);
			opts.owner = { ...o.owner, passwordHash: helper.hash };
		}
		try {
			const st = await invoke("start", opts);
			// Used by the first start only (a database exists after it).
			schemaImage = Promise.resolve(null);
			setTimeout(dropCompileGarbage, 0);
			return { ...st, timings };
		} finally {
			helper?.stop();
		}
	},
	async status() {
		const st = await invoke("status");
		return { ...st, wasmMemoryBytes: memory?.buffer.byteLength ?? 0, worker: { ...spent } };
	},
	async export() {
		const b = await invoke("exportDatabase");
		return [b, [b.buffer]];
	},
	import: (a) => invoke("importDatabase", a.bytes, a.storage ?? "auto"),
	stop: () => invoke("stop"),
};

// fetchNow hands a request to Go and posts the answer from inside Go's
// callback: the answer reaches the page at once, not after the Go program
// next returns to the event loop (which waits for every goroutine the
// request woke, such as the work a commit hands to background services).
function fetchNow(hw, id, r) {
	const t = performance.now();
	const answered = warmRequest();
	hw.fetch(r.reqId, r.method, r.url, r.headers, r.body ?? null, (err, res) => {
		if (err) {
			postMessage({ id, ok: false, error: { name: "Error", code: err.code || "INTERNAL", message: String(err.message) } });
			answered();
			return;
		}
		const p = performance.now();
		spent.fetches++;
		spent.goMs += p - t;
		postMessage({ id, ok: true, value: res }, [res.body.buffer]);
		answered();
		const posted = performance.now();
		spent.postMs += posted - p;
		const first = spent.fetches === 1;
		if (first) {
			warmUpAside();
		}
		Promise.resolve().then(() => {
			const after = performance.now() - posted;
			spent.afterMs += after;
			if (first) {
				spent.firstAfterMs = after;
			}
		});
	});
}

self.onmessage = isHashWorker ? hashMain : isWarmWorker ? warmMain : async (e) => {
	const { id, op, arg } = e.data;
	if (op === "abort") {
		hearthWasm().then((hw) => hw.abort(arg));
		return;
	}
	if (op === "fetch") {
		try {
			fetchNow(await hearthWasm(), id, arg);
		} catch (err) {
			postMessage({ id, ok: false, error: { name: err?.name || "Error", code: err?.code || "INTERNAL", message: String(err?.message ?? err) } });
		}
		return;
	}
	const fn = ops[op];
	try {
		if (!fn) {
			throw new Error(`unknown operation ${op}`);
		}
		let value = await fn(arg);
		let transfer = [];
		if (Array.isArray(value) && value.length === 2 && Array.isArray(value[1])) {
			[value, transfer] = value;
		}
		postMessage({ id, ok: true, value }, transfer);
	} catch (err) {
		postMessage({ id, ok: false, error: { name: err?.name || "Error", code: err?.code || "INTERNAL", message: String(err?.message ?? err) } });
	}
};
