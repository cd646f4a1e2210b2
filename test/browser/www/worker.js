// worker.js runs one Go program compiled for GOOS=js GOARCH=wasm (usually a
// test binary from `go test -c`) inside a dedicated Web Worker, where OPFS
// sync access handles exist. Its stdout and stderr are posted to the page as
// they are written, then its exit code.
"use strict";

// memfs.js gives the program an in-memory file system (wasm_exec.js would
// otherwise install one that refuses every call but writes to stdout and
// stderr); those writes are posted to the page as they come.
importScripts("/memfs.js");
const flushOutput = installMemFS((fd, text) => postMessage({ type: "out", fd, text }));

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
	flushOutput();
	postMessage({ type: "exit", code: code === null ? 0 : code });
};
