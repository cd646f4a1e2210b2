// moduleworker.js runs one instance of a hearth module (docs/modules.md)
// in a dedicated worker of its own, on the browser's WebAssembly engine.
// The homeserver's worker (modules/browser_js.go) starts it from a blob
// URL, and terminates it when a call runs past the module's time cap: a
// module in a loop cannot be stopped any other way.
//
// Messages in:
//   {t: "init", module: WebAssembly.Module, config: Uint8Array}
//       start an instance, run _initialize; answers ready {abi} or fail
//   {t: "call", name, input: Uint8Array, state: [[room, type, key, n, json]]}
//       run callback name; answers done {out}, fail {msg} or need
// Messages out carry logs: [{level, text} | {out: Uint8Array}], the
// module's log calls and stdout/stderr during the step, in order.
//
// state_event needs its answer at once, and the homeserver's worker can
// only answer a message. Unless the page is cross-origin isolated there is
// no way to wait for it (no SharedArrayBuffer), so a call that asks for a
// state event the host has not given is stopped, the worker answers
// need {room, type, key}, and the host calls again with the answer; the
// instance is thrown away and the call runs again on a fresh one. The
// instance's clock and random source are fake and seeded (as natively), so
// the call asks the same again, now answered.
"use strict";

const ENOSYS = 52;
const EBADF = 8;
const EINVAL = 28;
const MS = 1000000n;
const FAKE_EPOCH = 1640995200000n * MS; // 2022-01-01, wazero's fake clock
const MAX_ANSWER = 1 << 20;
const WASI = ["args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get", "clock_time_get",
	"fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread",
	"fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
	"fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get", "path_filestat_set_times",
	"path_link", "path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
	"path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept",
	"sock_recv", "sock_send", "sock_shutdown"];

class Exit {
	constructor(code) {
		this.code = code;
	}
}
class NeedState {
	constructor(room, type, key) {
		this.room = room;
		this.type = type;
		this.key = key;
	}
}
class Failure {
	constructor(msg) {
		this.msg = msg;
	}
}

let module;
let config;
let inst = null;
let memory;
let logs = [];
let answers = new Map();
let wall;
let mono;
let seed;
let current = "_initialize";

const decoder = new TextDecoder();
const bytes = () => new Uint8Array(memory.buffer);
const view = () => new DataView(memory.buffer);
const inside = (ptr, n) => ptr + n <= memory.buffer.byteLength;

// random fills b from a xorshift generator seeded per instance.
function random(b) {
	for (let i = 0; i < b.length; i++) {
		seed ^= seed << 13;
		seed ^= seed >>> 17;
		seed ^= seed << 5;
		b[i] = seed & 0xff;
	}
}

function wasi() {
	const w = {};
	for (const name of WASI) {
		w[name] = name.startsWith("fd_") ? () => EBADF : () => ENOSYS;
	}
	const zeros = (a, b) => {
		view().setUint32(a, 0, true);
		view().setUint32(b, 0, true);
		return 0;
	};
	w.args_sizes_get = zeros;
	w.environ_sizes_get = zeros;
	w.args_get = () => 0;
	w.environ_get = () => 0;
	w.clock_res_get = (id, out) => {
		view().setBigUint64(out, 1000n, true);
		return 0;
	};
	w.clock_time_get = (id, precision, out) => {
		let t;
		if (id === 0) {
			t = wall += MS;
		} else if (id === 1) {
			t = mono += MS;
		} else {
			return EINVAL;
		}
		view().setBigUint64(out, t, true);
		return 0;
	};
	w.random_get = (buf, n) => {
		random(bytes().subarray(buf, buf + n));
		return 0;
	};
	w.fd_write = (fd, iovs, n, written) => {
		if (fd !== 1 && fd !== 2) {
			return EBADF;
		}
		const v = view();
		let total = 0;
		for (let i = 0; i < n; i++) {
			const p = v.getUint32(iovs + 8 * i, true);
			const len = v.getUint32(iovs + 8 * i + 4, true);
			logs.push({ out: bytes().slice(p, p + len) });
			total += len;
		}
		v.setUint32(written, total, true);
		return 0;
	};
	w.fd_read = (fd, iovs, n, read) => {
		if (fd !== 0) {
			return EBADF;
		}
		view().setUint32(read, 0, true);
		return 0;
	};
	w.fd_fdstat_get = (fd, out) => {
		if (fd > 2) {
			return EBADF;
		}
		const v = view();
		v.setUint8(out, 2); // character device
		v.setUint16(out + 2, 0, true);
		v.setBigUint64(out + 8, 0xffffffffn, true);
		v.setBigUint64(out + 16, 0n, true);
		return 0;
	};
	w.fd_fdstat_set_flags = (fd) => (fd > 2 ? EBADF : 0);
	w.fd_close = (fd) => (fd > 2 ? EBADF : 0);
	w.poll_oneoff = (subs, events, n, nevents) => {
		// The clock is fake: every subscription is ready at once.
		const v = view();
		for (let i = 0; i < n; i++) {
			const s = subs + 48 * i;
			const e = events + 32 * i;
			v.setBigUint64(e, v.getBigUint64(s, true), true);
			const tag = v.getUint8(s + 8);
			v.setUint16(e + 8, tag === 0 ? 0 : EBADF, true);
			v.setUint8(e + 10, tag);
			v.setBigUint64(e + 16, 0n, true);
			v.setUint16(e + 24, 0, true);
		}
		v.setUint32(nevents, n, true);
		return 0;
	};
	w.sched_yield = () => 0;
	w.proc_exit = (code) => {
		throw new Exit(code);
	};
	return w;
}

// writeOut writes b at out when it fits in size bytes and answers its
// length (docs/modules.md).
function writeOut(b, out, size) {
	if (b.length <= size >>> 0) {
		if (!inside(out >>> 0, b.length)) {
			return -2;
		}
		bytes().set(b, out >>> 0);
	}
	return b.length;
}

function str(ptr, n) {
	ptr >>>= 0;
	n >>>= 0;
	if (n > 65536 || !inside(ptr, n)) {
		return null;
	}
	return decoder.decode(bytes().subarray(ptr, ptr + n));
}

const host = {
	log(level, ptr, n) {
		n = Math.min(n >>> 0, 4096);
		if (inside(ptr >>> 0, n)) {
			logs.push({ level, text: decoder.decode(bytes().subarray(ptr >>> 0, (ptr >>> 0) + n)) });
		}
	},
	config(out, size) {
		return writeOut(config, out, size);
	},
	state_event(rp, rn, tp, tn, kp, kn, out, size) {
		const room = str(rp, rn);
		const type = str(tp, tn);
		const key = str(kp, kn);
		if (room === null || type === null || key === null) {
			return -2;
		}
		const a = answers.get(JSON.stringify([room, type, key]));
		if (a === undefined) {
			throw new NeedState(room, type, key);
		}
		return a.json ? writeOut(a.json, out, size) : a.n;
	},
};

function start() {
	wall = FAKE_EPOCH - MS;
	mono = -MS;
	seed = 42;
	current = "_initialize";
	inst = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi(), hearth: host });
	memory = inst.exports.memory;
	if (typeof inst.exports._initialize === "function") {
		inst.exports._initialize();
	}
}

function call(name, input) {
	const ex = inst.exports;
	let ptr = 0;
	if (input.length > 0) {
		current = "hearth_alloc";
		ptr = ex.hearth_alloc(input.length) >>> 0;
		if (!inside(ptr, input.length)) {
			throw new Failure(`hearth_alloc returned 0x${ptr.toString(16)}, outside its memory`);
		}
		bytes().set(input, ptr);
	}
	current = name;
	const r = BigInt.asUintN(64, ex[name](ptr, input.length));
	const rp = Number(r >> 32n);
	const rn = Number(r & 0xffffffffn);
	if (rn === 0) {
		return null;
	}
	if (rn > MAX_ANSWER) {
		throw new Failure(`${name} answered ${rn} bytes, over the ${MAX_ANSWER} allowed`);
	}
	if (!inside(rp, rn)) {
		throw new Failure(`${name} answered outside its memory`);
	}
	return bytes().slice(rp, rp + rn);
}

function failure(err) {
	if (err instanceof Failure) {
		return err.msg;
	}
	if (err instanceof Exit) {
		return `${current} exited with code ${err.code} (out of memory, or a panic)`;
	}
	if (err instanceof WebAssembly.RuntimeError) {
		return `${current} trapped: ${err.message}`;
	}
	return `${current} failed: ${err && err.message ? err.message : String(err)}`;
}

function reply(msg) {
	msg.logs = logs;
	logs = [];
	self.postMessage(msg);
}

self.onmessage = (e) => {
	const m = e.data;
	try {
		if (m.t === "init") {
			module = m.module;
			config = m.config;
			start();
			current = "hearth_abi_version";
			reply({ t: "ready", abi: inst.exports.hearth_abi_version() });
		} else if (m.t === "call") {
			answers = new Map(m.state.map(([room, type, key, n, json]) => [JSON.stringify([room, type, key]), { n, json }]));
			if (inst === null) {
				start();
			}
			reply({ t: "done", out: call(m.name, m.input) });
		}
	} catch (err) {
		inst = null;
		if (err instanceof NeedState) {
			logs = [];
			self.postMessage({ t: "need", room: err.room, type: err.type, key: err.key, logs: [] });
			return;
		}
		reply({ t: "fail", msg: failure(err) });
	}
};
