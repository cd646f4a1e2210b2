// hearth.js runs a hearth homeserver inside this browser tab. It is an ES
// module, served by `hearth serve` at /hearth.js:
//
//	import { Hearth } from "/hearth.js";
//	const hs = await Hearth.start({ serverName: "home.example", owner: { name: "me", password: "…" } });
//	const client = sdk.createClient({ baseUrl: location.origin, fetchFn: hs.fetch });
//
// The homeserver (hearth's Go code compiled to WebAssembly) runs in a
// dedicated Web Worker, on a SQLite database in the Origin Private File
// System, or in IndexedDB where OPFS is missing.
//
// One tab of the origin owns the homeserver, elected with the Web Lock
// "hearth-owner"; Hearth.start in other tabs connects to it over a
// BroadcastChannel (same API, hs.owner false), and one of them takes over
// when the owner tab closes or stops.
//
// Hearth.start also registers the service worker /hearth-sw.js (scope /),
// which answers same-origin /_matrix/* requests of the pages it controls
// through the owner tab, so an unmodified web client served from this
// origin can use the origin as its homeserver URL. It shadows the
// origin's own /_matrix (a native `hearth serve` that served the page, for
// instance) for those pages only; while no tab runs the homeserver it
// answers 503 M_UNAVAILABLE. Pass serviceWorker: false to leave it out.
import {
	CHANNEL,
	HearthError,
	OWNER_LOCK,
	OwnerLink,
	abortError,
	errorToWire,
	errorFromWire,
	networkError,
	randomId,
	serializeRequest,
	toResponse,
} from "./protocol.js";

export { HearthError };

// HEARTH_WORKER_URL is set by build.mjs to the content-hashed worker.
const workerURL = new URL(HEARTH_WORKER_URL, import.meta.url);
const serviceWorkerURL = "/hearth-sw.js";
const storages = ["auto", "opfs", "indexeddb", "memory"];

// current is the promise of this page's instance, while one is starting or
// running.
let current = null;
// spare is a worker whose Go program is loaded but runs no homeserver (a
// start that failed on its options), kept for the next start.
let spare = null;

// WorkerClient talks to one homeserver worker.
class WorkerClient {
	constructor() {
		this.worker = new Worker(workerURL, { name: "hearth" });
		// createdAt: when this page started the worker (page clock).
		this.createdAt = performance.now();
		this.calls = new Map();
		this.seq = 0;
		this.dead = null;
		this.onExit = null;
		this.worker.onmessage = (e) => this.receive(e.data);
		this.worker.onerror = (e) => {
			e.preventDefault?.();
			this.fail(networkError(`the homeserver worker failed: ${e.message || "error"}`));
		};
	}

	receive(m) {
		if (m.t === "warmed") {
			// The worker's send path warm-up ran and V8 has had time to
			// cache what it optimised: later starts of this build run a
			// short one (worker.js, warmUpKey).
			remember(WARMED_UP_KEY, String(m.key));
			return;
		}
		if (m.t === "exit") {
			const err = networkError(`the homeserver stopped unexpectedly (exit code ${m.code})${m.message ? `: ${m.message}` : ""}`);
			this.fail(err);
			this.onExit?.(err);
			return;
		}
		const c = this.calls.get(m.id);
		if (!c) {
			return;
		}
		this.calls.delete(m.id);
		if (m.ok) {
			c.resolve(m.value);
		} else {
			c.reject(errorFromWire(m.error));
		}
	}

	call(op, arg, transfer = []) {
		if (this.dead) {
			return Promise.reject(this.dead);
		}
		const id = ++this.seq;
		return new Promise((resolve, reject) => {
			this.calls.set(id, { resolve, reject });
			this.worker.postMessage({ id, op, arg }, transfer);
		});
	}

	post(op, arg) {
		if (!this.dead) {
			this.worker.postMessage({ op, arg });
		}
	}

	fail(err) {
		this.dead ??= err;
		for (const c of this.calls.values()) {
			c.reject(err);
		}
		this.calls.clear();
	}

	terminate() {
		this.worker.terminate();
		this.fail(networkError("the homeserver was stopped"));
	}
}

function takeWorker() {
	const w = spare && !spare.dead ? spare : new WorkerClient();
	if (spare && spare !== w) {
		spare.terminate();
	}
	spare = null;
	return w;
}

// A page of an origin whose homeserver ran in a tab before will most likely
// start it again: its worker starts now, while the page is still loading,
// so that fetching and compiling the wasm and starting the Go program are
// done (or under way) when Hearth.start asks for the homeserver. Not when
// another tab runs the homeserver (this one will be its client).
function preloadWorker() {
	if (typeof Worker === "undefined" || !startedBefore()) {
		return;
	}
	const held = navigator.locks?.query ? navigator.locks.query().then((q) => q.held ?? []) : Promise.resolve([]);
	held.then((locks) => {
		if (!spare && !locks.some((l) => l.name === OWNER_LOCK)) {
			spare = new WorkerClient();
		}
	}, () => {});
}

// startedBefore reports whether a start in this origin remembered its
// server name (see #becomeOwner).
function startedBefore() {
	try {
		const ls = globalThis.localStorage;
		for (let i = 0; i < (ls?.length ?? 0); i++) {
			if (ls.key(i)?.startsWith("hearth.serverName.")) {
				return true;
			}
		}
	} catch {
		// no storage: no hint
	}
	return false;
}

preloadWorker();

// RELEASED_KEY is where an owner page that goes away notes when it let go
// of the owner lock (epoch ms), so that the next owner (the reloaded page)
// can tell how long after that it got the lock (status().timings).
const RELEASED_KEY = "hearth.ownerReleasedAt";
// OWNER_CLIENT_KEY is the Web Locks client ID of the last page that took
// the owner lock, so that a page that finds the lock taken can tell
// whether that page still holds it (status().timings.lockHeldBy).
const OWNER_CLIENT_KEY = "hearth.ownerClient";

// lockHolder says who holds the owner lock: "none" (free, or asked for
// by a request ahead of ours), "the last owner page" (by its client ID,
// see OWNER_CLIENT_KEY) or "another context", with the number of
// requests queued for it.
async function lockHolder() {
	try {
		const q = await navigator.locks.query();
		const held = q.held.find((l) => l.name === OWNER_LOCK);
		const pending = q.pending.filter((l) => l.name === OWNER_LOCK).length;
		const who = !held ? "none" : held.clientId === recall(OWNER_CLIENT_KEY) ? "the last owner page" : "another context";
		return `${who}, ${pending} queued`;
	} catch {
		return "unknown";
	}
}

// noteOwnerClient remembers this page's client ID as the owner lock's
// holder.
async function noteOwnerClient() {
	try {
		const q = await navigator.locks.query();
		const held = q.held.find((l) => l.name === OWNER_LOCK);
		if (held?.clientId) {
			remember(OWNER_CLIENT_KEY, held.clientId);
		}
	} catch {
		// only a diagnostic
	}
}

// WARMED_UP_KEY is where the page remembers the build whose send path
// warm-up has run (see WorkerClient.receive).
const WARMED_UP_KEY = "hearth.warmedUp";

// recall reads what remember kept, or undefined.
function recall(key) {
	try {
		return globalThis.localStorage?.getItem(key) ?? undefined;
	} catch {
		return undefined;
	}
}

// remember keeps a small string in localStorage, where there is one.
function remember(key, value) {
	try {
		globalThis.localStorage?.setItem(key, value);
	} catch {
		// storage full or denied: only a hint
	}
}

// tryOwnerLock takes the owner lock if it is free and resolves with the
// function that releases it, or with null. The function's promise settles
// once the lock is released.
function tryOwnerLock() {
	if (!navigator.locks) {
		return Promise.resolve(async () => {});
	}
	return new Promise((resolve, reject) => {
		let done;
		done = navigator.locks.request(OWNER_LOCK, { ifAvailable: true }, (lock) => {
			if (!lock) {
				resolve(null);
				return undefined;
			}
			return new Promise((release) => resolve(() => {
				release();
				return done.catch(() => {});
			}));
		});
		done.catch(reject);
	});
}

function checkOptions(o) {
	if (o === null || typeof o !== "object") {
		throw new HearthError("Hearth.start: options must be an object", "BAD_OPTION");
	}
	if (o.serverName !== undefined && (typeof o.serverName !== "string" || o.serverName === "")) {
		throw new HearthError("Hearth.start: serverName must be a non-empty string", "BAD_OPTION");
	}
	if (o.owner !== undefined && o.owner !== null &&
		(typeof o.owner !== "object" || typeof o.owner.name !== "string" || typeof o.owner.password !== "string")) {
		throw new HearthError("Hearth.start: owner must be {name, password}, both strings", "BAD_OPTION");
	}
	if (o.storage !== undefined && !storages.includes(o.storage)) {
		throw new HearthError(`Hearth.start: storage must be one of ${storages.join(", ")}`, "BAD_OPTION");
	}
	if (o.relay !== undefined && o.relay !== null &&
		(typeof o.relay !== "object" || typeof o.relay.url !== "string" || !/^wss?:\/\//.test(o.relay.url) ||
			(o.relay.token !== undefined && typeof o.relay.token !== "string"))) {
		throw new HearthError("Hearth.start: relay must be {url: \"wss://…\", token}", "BAD_OPTION");
	}
	if (o.modules !== undefined && o.modules !== null && (!Array.isArray(o.modules) || !o.modules.every((m) =>
		m && typeof m === "object" && (typeof m.url === "string" || m.wasm instanceof ArrayBuffer || ArrayBuffer.isView(m.wasm))))) {
		throw new HearthError("Hearth.start: modules must be a list of {url or wasm, name, config, onError, memoryPages, timeout}", "BAD_OPTION");
	}
	if (o.warmUp !== undefined && o.warmUp !== false && !(Number.isInteger(o.warmUp) && o.warmUp >= 0 && o.warmUp <= 10000)) {
		throw new HearthError("Hearth.start: warmUp must be false or a number of sends (0-10000)", "BAD_OPTION");
	}
}

// moduleOptions fetches the modules given by URL and hands each to the
// worker as bytes, its config as JSON (docs/modules.md).
async function moduleOptions(modules) {
	if (!modules) {
		return undefined;
	}
	return Promise.all(modules.map(async (m) => {
		let wasm = m.wasm;
		if (wasm === undefined) {
			const resp = await fetch(m.url);
			if (!resp.ok) {
				throw new HearthError(`Hearth.start: module ${m.url}: HTTP ${resp.status}`, "BAD_OPTION");
			}
			wasm = await resp.arrayBuffer();
		}
		const bytes = ArrayBuffer.isView(wasm) ? new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength) : new Uint8Array(wasm);
		return {
			name: m.name ?? (m.url ? m.url.replace(/^.*\//, "").replace(/\.wasm$/, "") : ""),
			wasm: bytes,
			config: JSON.stringify(m.config ?? null),
			onError: m.onError ?? "",
			memoryPages: m.memoryPages ?? 0,
			timeout: m.timeout ?? "",
		};
	}));
}

async function registerServiceWorker() {
	if (!("serviceWorker" in navigator)) {
		return;
	}
	try {
		await navigator.serviceWorker.register(serviceWorkerURL, { scope: "/" });
	} catch (err) {
		console.warn("hearth: service worker not registered:", err);
	}
}

// raceAbort settles with p, or rejects as soon as signal aborts.
function raceAbort(p, signal) {
	if (!signal) {
		return p;
	}
	return new Promise((resolve, reject) => {
		const onAbort = () => reject(abortError(signal));
		if (signal.aborted) {
			onAbort();
			return;
		}
		signal.addEventListener("abort", onAbort, { once: true });
		p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
	});
}

// Hearth is a homeserver running in this origin, in this tab (owner) or in
// another tab that this one talks to. Get one with Hearth.start.
//
// Events: "statechange" when state changes ("starting", "owner", "client",
// "stopped"); "error" (an ErrorEvent-like Event with .error) when the
// homeserver dies.
export class Hearth extends EventTarget {
	// start starts the homeserver in this tab, or connects to the tab that
	// runs it, and resolves with the instance. Called again in the same page
	// it returns the running instance.
	//
	// options:
	//   serverName  the server's name, stored at the first start (an
	//               existing database keeps its own)
	//   owner       {name, password}: creates the owner account on the first
	//               start of an empty database; ignored after
	//   storage     "auto" (default: OPFS, else IndexedDB, else memory),
	//               "opfs", "indexeddb" or "memory"
	//   logLevel    the worker's log level: debug, info, warn or error
	//   relay       {url, token}: federate through the relay at url
	//               (wss://RELAY/_hearth/relay/v1/connect); token is the
	//               enrollment token, needed on the first connection only
	//   serviceWorker  false to skip registering /hearth-sw.js
	//   modules     WebAssembly modules (docs/modules.md), each {url} or
	//               {wasm: ArrayBuffer or Uint8Array}, with name, config,
	//               onError, memoryPages, timeout as in the YAML config
	//   warmUp      false to skip the send path's warm-up, which runs in a
	//               helper worker after the first answer (worker.js); a
	//               number sets how many messages it sends (default 40,
	//               and 10 once a warm-up of the same build has run to its
	//               end: V8's code cache then holds what it optimised)
	//
	// An empty database without owner is refused with a HearthError whose
	// code is "NEEDS_OWNER".
	static start(options = {}) {
		if (current) {
			return current;
		}
		let p;
		try {
			checkOptions(options);
			const hs = new Hearth(options);
			p = hs.#begin().then(() => hs);
		} catch (err) {
			p = Promise.reject(err);
		}
		current = p;
		p.catch(() => {
			if (current === p) {
				current = null;
			}
		});
		return p;
	}

	// importDatabase replaces this origin's database with blob (a file
	// exported by hs.exportDatabase() or `hearth db export`). The homeserver
	// must be stopped in every tab; a database this hearth is too old for
	// (code "TOO_NEW") or a file that is not a hearth database (code
	// "NOT_HEARTH") is refused and the current database kept. options.storage
	// picks the storage as for start.
	static async importDatabase(blob, options = {}) {
		if (!(blob instanceof Blob)) {
			throw new HearthError("Hearth.importDatabase: want a Blob or File", "BAD_OPTION");
		}
		if (options.storage !== undefined && !storages.includes(options.storage)) {
			throw new HearthError(`Hearth.importDatabase: storage must be one of ${storages.join(", ")}`, "BAD_OPTION");
		}
		if (current) {
			throw new HearthError("stop the homeserver (hs.stop()) before importing a database", "RUNNING");
		}
		if (navigator.locks) {
			const q = await navigator.locks.query();
			if ([...q.held, ...q.pending].some((l) => l.name === OWNER_LOCK)) {
				throw new HearthError("the homeserver is running in another tab of this site, or a tab is connected to it: stop it there first", "RUNNING");
			}
		}
		const bytes = new Uint8Array(await blob.arrayBuffer());
		const release = await tryOwnerLock();
		if (!release) {
			throw new HearthError("the homeserver is running in another tab of this site: stop it there first", "RUNNING");
		}
		const wc = takeWorker();
		try {
			await wc.call("import", { bytes, storage: options.storage ?? "auto" }, [bytes.buffer]);
		} finally {
			wc.terminate();
			await release();
		}
	}

	#opts;
	#state = "starting";
	#bc;
	#link;
	#wc = null;
	#release = null;
	#takeover = null;
	#ready = null;
	#info = null;
	#served = new Map();
	#onPageHide;
	#created = performance.now();
	#ownerWaitMs = 0;
	#workerCreatedMs = 0;
	#lockAskedMs = 0;
	#lockAtOnce = false;
	#lockHeldBy = null;
	#swMs = -1;

	constructor(options) {
		super();
		this.#opts = { ...options };
		this.tabId = randomId();
		this.#bc = new BroadcastChannel(CHANNEL);
		this.#link = new OwnerLink(this.tabId, { channel: this.#bc });
		this.#link.onOwner = () => this.dispatchEvent(new Event("ownerchange"));
		this.#bc.addEventListener("message", (e) => this.#serve(e.data));
		// A page that goes away (closed, reloaded, navigated) lets go of
		// the database and the lock at once, so the next owner (often the
		// reloaded page itself) need not wait for the browser to tear the
		// old page down. Committed writes are already in the database.
		this.#onPageHide = (e) => {
			if (e.persisted || this.#state === "stopped") {
				return;
			}
			if (this.#wc) {
				this.#bc.postMessage({ t: "gone", owner: this.tabId });
				this.#wc.terminate();
				this.#wc = null;
			}
			this.#takeover?.abort();
			if (this.#release) {
				this.#release();
				this.#release = null;
				remember(RELEASED_KEY, String(performance.timeOrigin + performance.now()));
			}
		};
		globalThis.addEventListener?.("pagehide", this.#onPageHide);
		// fetch is an own property so it can be passed around unbound
		// (matrix-js-sdk's fetchFn).
		this.fetch = this.#fetch.bind(this);
	}

	// state is "starting", "owner", "client" or "stopped".
	get state() {
		return this.#state;
	}

	// owner reports whether this tab runs the homeserver.
	get owner() {
		return this.#state === "owner";
	}

	#setState(s) {
		if (this.#state !== s) {
			this.#state = s;
			this.dispatchEvent(new Event("statechange"));
		}
	}

	// begin asks for the owner lock at once: the service worker's
	// registration runs beside the start, not before it (its job queue can
	// be behind an update check of the browser's), and the start does not
	// need it (a page already controlled keeps its worker; a first page is
	// controlled once the worker has activated and claimed it, not when
	// register resolves).
	async #begin() {
		if (this.#opts.serviceWorker !== false) {
			const t = performance.now();
			registerServiceWorker().then(() => { this.#swMs = performance.now() - t; });
		}
		this.#lockAskedMs = performance.now() - this.#created;
		const release = await tryOwnerLock();
		this.#lockAtOnce = release !== null;
		if (!release && navigator.locks) {
			this.#lockHeldBy = await lockHolder();
		}
		if (release) {
			try {
				await this.#becomeOwner(release);
			} catch (err) {
				this.#close();
				throw err;
			}
			return;
		}
		this.#setState("client");
		let becameOwner;
		const owned = new Promise((resolve, reject) => { becameOwner = { resolve, reject }; });
		owned.catch(() => {}); // a later takeover failure is reported by #die
		this.#waitForTakeover(becameOwner);
		try {
			await Promise.race([this.#link.call("status"), owned]);
		} catch (err) {
			this.#close();
			throw err;
		}
	}

	// waitForTakeover queues for the owner lock; when this tab gets it (the
	// owner closed or stopped), it starts the homeserver itself.
	#waitForTakeover(becameOwner) {
		if (!navigator.locks) {
			return;
		}
		this.#takeover = new AbortController();
		const done = navigator.locks.request(OWNER_LOCK, { signal: this.#takeover.signal }, async () => {
			if (this.#state === "stopped") {
				return undefined;
			}
			let resolveHeld;
			const held = new Promise((r) => { resolveHeld = r; });
			const release = () => {
				resolveHeld();
				return done.catch(() => {});
			};
			try {
				await this.#becomeOwner(release);
			} catch (err) {
				becameOwner.reject(err);
				this.#die(err);
				return undefined;
			}
			becameOwner.resolve();
			return held;
		});
		done.catch((err) => {
			if (err?.name !== "AbortError") {
				console.warn("hearth: waiting for the owner lock:", err);
			}
		});
	}

	async #becomeOwner(release) {
		this.#ownerWaitMs = performance.now() - this.#created;
		this.#release = release;
		if (navigator.locks) {
			noteOwnerClient();
		}
		this.#setState("starting");
		let ready;
		this.#ready = new Promise((resolve, reject) => { ready = { resolve, reject }; });
		this.#ready.catch(() => {});
		const leftovers = this.#link.takePending();
		const wc = takeWorker();
		this.#wc = wc;
		this.#workerCreatedMs = wc.createdAt;
		wc.onExit = (err) => this.#die(err);
		const o = this.#opts;
		// An existing database keeps its own name; the name of the last
		// start is remembered as the sign that this origin ran a
		// homeserver (preloadWorker).
		const nameKey = `hearth.serverName.${o.storage ?? "auto"}`;
		try {
			this.#info = await wc.call("start", {
				serverName: o.serverName,
				owner: o.owner ?? undefined,
				storage: o.storage ?? "auto",
				logLevel: o.logLevel,
				relay: o.relay ?? undefined,
				modules: await moduleOptions(o.modules),
				warmUp: o.warmUp,
				warmedUp: recall(WARMED_UP_KEY),
			});
			remember(nameKey, this.#info.serverName);
		} catch (err) {
			ready.reject(err);
			this.#wc = null;
			if (err instanceof HearthError && ["NEEDS_OWNER", "BAD_OPTION", "UNSUPPORTED"].includes(err.code) && !spare) {
				wc.onExit = null;
				spare = wc;
			} else {
				wc.terminate();
			}
			this.#release = null;
			release();
			for (const p of leftovers) {
				p.reject(p.msg.op === "fetch" ? networkError(err.message) : err);
			}
			throw err;
		}
		ready.resolve();
		this.#setState("owner");
		this.#bc.postMessage({ t: "owner", owner: this.tabId });
		this.dispatchEvent(new Event("ownerchange"));
		for (const p of leftovers) {
			this.#local(p.msg.op, p.msg.arg, p.signal).then(p.resolve, p.reject);
		}
	}

	// serve answers the channel's requests while this tab owns the
	// homeserver.
	#serve(m) {
		if (!m || typeof m !== "object") {
			return;
		}
		if (m.t === "req" && (this.#state === "owner" || (this.#state === "starting" && this.#wc))) {
			this.#bc.postMessage({ t: "ack", id: m.id, to: m.from, owner: this.tabId });
			const ac = new AbortController();
			this.#served.set(m.id, ac);
			this.#local(m.op, m.arg, ac.signal).then(
				(value) => this.#bc.postMessage({ t: "res", id: m.id, to: m.from, ok: true, value }),
				(err) => this.#bc.postMessage({ t: "res", id: m.id, to: m.from, ok: false, error: errorToWire(err) }),
			).finally(() => this.#served.delete(m.id));
		} else if (m.t === "abort") {
			this.#served.get(m.id)?.abort();
		}
	}

	// local runs op on this tab's worker, once it has started.
	async #local(op, arg, signal) {
		await this.#ready;
		const wc = this.#wc;
		if (!wc) {
			throw networkError("the homeserver is stopped");
		}
		switch (op) {
		case "fetch": {
			if (signal?.aborted) {
				throw abortError(signal);
			}
			const reqId = randomId();
			const onAbort = () => wc.post("abort", reqId);
			signal?.addEventListener("abort", onAbort, { once: true });
			try {
				const transfer = arg.body ? [arg.body.buffer] : [];
				return await raceAbort(wc.call("fetch", { ...arg, reqId }, transfer), signal);
			} finally {
				signal?.removeEventListener("abort", onAbort);
			}
		}
		case "status":
			return wc.call("status");
		case "export":
			return wc.call("export");
		}
		throw new HearthError(`unknown operation ${op}`);
	}

	#dispatch(op, arg, signal) {
		switch (this.#state) {
		case "owner":
		case "starting":
			if (this.#wc) {
				return this.#local(op, arg, signal);
			}
			return this.#link.call(op, arg, signal);
		case "client":
			return this.#link.call(op, arg, signal);
		}
		return Promise.reject(networkError("the homeserver is stopped"));
	}

	// fetch sends a request to the homeserver and resolves with its
	// Response, like window.fetch: input is a path, a same-origin URL or a
	// Request; init as for fetch (body as string, Blob, ArrayBuffer, typed
	// array, ...; signal aborts). Matrix errors resolve as responses with
	// their status; a homeserver that cannot be reached rejects with a
	// TypeError.
	async #fetch(input, init) {
		if (this.#state === "stopped") {
			throw networkError("the homeserver is stopped");
		}
		const base = globalThis.location?.href;
		const req = input instanceof Request ? new Request(input, init) : new Request(new URL(String(input), base), init);
		const url = new URL(req.url);
		if (globalThis.location && url.origin !== globalThis.location.origin) {
			throw new TypeError(`hearth: hs.fetch serves this origin only, not ${url.origin}`);
		}
		const signal = req.signal;
		if (signal.aborted) {
			throw abortError(signal);
		}
		const data = await serializeRequest(req);
		let res;
		try {
			res = await this.#dispatch("fetch", data, signal);
		} catch (err) {
			if (err?.name === "AbortError" || err instanceof TypeError) {
				throw err;
			}
			throw networkError(err?.message ?? String(err));
		}
		return toResponse(res);
	}

	// status resolves with {state, owner, storage, databaseBytes, version,
	// serverName, startedAt, startupMs, wasmMemoryBytes, goHeapBytes,
	// goSysBytes, relay: {state: "off"|"connecting"|"connected", queued}};
	// owner tells whether this tab runs the homeserver.
	async status() {
		if (this.#state === "stopped") {
			return { state: "stopped", owner: false, storage: this.#info?.storage ?? null, databaseBytes: 0, version: this.#info?.version ?? null, serverName: this.#info?.serverName ?? null };
		}
		const st = await this.#dispatch("status");
		const owner = this.#state === "owner";
		const out = { ...st, state: "running", owner };
		if (owner && this.#info?.timings) {
			// ownerWaitMs: from Hearth.start to holding the owner lock
			// (lockAskedMs: to asking for it; lockAtOnce: the first ask
			// got it, no owner held it); workerCreatedMs: when the page
			// started the worker, from its navigation start (before
			// Hearth.start when it was preloaded); swRegisterMs: how long
			// the service worker's registration took (-1: not done or not
			// asked for); previousReleaseMs: when the last owner page that
			// went away let go of the lock, from this page's navigation
			// start (negative: before it), or null; lockHeldBy: when the
			// lock was taken at the first ask, who held it then (see
			// lockHolder).
			const rel = Number(recall(RELEASED_KEY));
			out.timings = {
				...this.#info.timings, ownerWaitMs: this.#ownerWaitMs, workerCreatedMs: this.#workerCreatedMs,
				lockAskedMs: this.#lockAskedMs, lockAtOnce: this.#lockAtOnce, lockHeldBy: this.#lockHeldBy, swRegisterMs: this.#swMs,
				previousReleaseMs: rel > 0 ? rel - performance.timeOrigin : null,
			};
		}
		return out;
	}

	// exportDatabase resolves with a consistent copy of the database (WAL
	// checkpointed into it) as a Blob of type application/vnd.sqlite3.
	async exportDatabase() {
		const bytes = await this.#dispatch("export");
		return new Blob([bytes], { type: "application/vnd.sqlite3" });
	}

	// stop stops the homeserver in this tab (closing the database, which
	// releases the OPFS handle, and the owner lock) or disconnects this tab
	// from the owner tab. Requests in flight and fetch calls after it reject.
	async stop() {
		if (this.#state === "stopped") {
			return;
		}
		const wasOwner = this.#wc !== null;
		this.#setState("stopped");
		if (current) {
			const p = current;
			current = null;
			p.catch(() => {});
		}
		this.#takeover?.abort();
		this.#link.close(networkError("the homeserver was stopped"));
		const wc = this.#wc;
		this.#wc = null;
		if (wc) {
			try {
				await wc.call("stop");
			} catch (err) {
				console.warn("hearth: stopping:", err);
			}
			wc.terminate();
		}
		const release = this.#release;
		this.#release = null;
		if (wasOwner) {
			this.#bc.postMessage({ t: "gone", owner: this.tabId });
		}
		this.#close();
		await release?.();
	}

	// die ends an instance whose worker failed.
	#die(err) {
		if (this.#state === "stopped") {
			return;
		}
		const wasOwner = this.#wc !== null;
		this.#wc?.terminate();
		this.#wc = null;
		this.#setState("stopped");
		current = null;
		this.#release?.();
		this.#release = null;
		this.#link.close(err);
		if (wasOwner) {
			this.#bc.postMessage({ t: "gone", owner: this.tabId });
		}
		this.#close();
		const ev = new Event("error");
		ev.error = err;
		this.dispatchEvent(ev);
	}

	#close() {
		this.#takeover?.abort();
		this.#state = "stopped";
		this.#link.close();
		this.#bc.close();
		globalThis.removeEventListener?.("pagehide", this.#onPageHide);
	}
}
