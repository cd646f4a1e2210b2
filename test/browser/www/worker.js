// worker.js runs one Go program compiled for GOOS=js GOARCH=wasm (usually a
// test binary from `go test -c`) inside a dedicated Web Worker, where OPFS
// sync access handles exist. Its stdout and stderr are posted to the page as
// they are written, then its exit code.
"use strict";

const enosys = () => {
	const err = new Error("not implemented");
	err.code = "ENOSYS";
	return err;
};

const decoders = new Map();

function decode(fd, buf, flush) {
	let d = decoders.get(fd);
	if (!d) {
		d = new TextDecoder("utf-8");
		decoders.set(fd, d);
	}
	return flush ? d.decode() : d.decode(buf, { stream: true });
}

// wasm_exec.js installs its own fs only when globalThis.fs is missing. This
// one forwards writes to fds 1 and 2 and refuses everything else, so os file
// calls fail with ENOSYS as they do in any browser.
globalThis.fs = {
	constants: { O_WRONLY: -1, O_RDWR: -1, O_CREAT: -1, O_TRUNC: -1, O_APPEND: -1, O_EXCL: -1, O_DIRECTORY: -1 },
	writeSync(fd, buf) {
		if (fd !== 1 && fd !== 2) {
			throw enosys();
		}
		const text = decode(fd, buf, false);
		if (text !== "") {
			postMessage({ type: "out", fd, text });
		}
		return buf.length;
	},
	write(fd, buf, offset, length, position, callback) {
		if (offset !== 0 || length !== buf.length || position !== null) {
			callback(enosys());
			return;
		}
		let n;
		try {
			n = this.writeSync(fd, buf);
		} catch (err) {
			callback(err);
			return;
		}
		callback(null, n);
	},
	fsync(fd, callback) { callback(null); },
};
for (const name of ["chmod", "chown", "close", "fchmod", "fchown", "fstat", "ftruncate", "lchown", "link", "lstat",
	"mkdir", "open", "read", "readdir", "readlink", "rename", "rmdir", "stat", "symlink", "truncate", "unlink", "utimes"]) {
	globalThis.fs[name] = (...args) => args[args.length - 1](enosys());
}

importScripts("/wasm_exec.js");

onmessage = async (e) => {
	const { args, env } = e.data;
	const go = new Go();
	go.argv = ["test.wasm", ...args];
	go.env = env;
	let code = null;
	go.exit = (c) => { code = c; };
	try {
		const { instance } = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
		await go.run(instance);
	} catch (err) {
		postMessage({ type: "error", message: String((err && err.stack) || err) });
		return;
	}
	for (const fd of [1, 2]) {
		const text = decode(fd, null, true);
		if (text !== "") {
			postMessage({ type: "out", fd, text });
		}
	}
	postMessage({ type: "exit", code: code === null ? 0 : code });
};
