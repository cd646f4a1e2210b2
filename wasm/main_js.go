// Command wasm is hearth's browser host: the same homeserver as `hearth
// serve` (core, storage and the web handler, through hearth.Open), built
// with GOOS=js GOARCH=wasm and run inside a dedicated Web Worker, where
// OPFS sync access handles exist.
//
// It opens no socket. main installs the object globalThis.hearthWasm, whose
// methods the worker script (web/ui/worker.js) calls, then calls
// globalThis.hearthReady() if the script set it, and runs until the worker
// is terminated:
//
//	start(options, cb)             open the database and the homeserver
//	fetch(id, method, url, headers, body, cb)
//	                               one HTTP request through the handler
//	abort(id)                      cancel the request id
//	status(cb)                     storage, size, version, server name
//	exportDatabase(cb)             a consistent copy of the database file
//	importDatabase(bytes, storage, cb)
//	                               replace the database (nothing running)
//	stop(cb)                       close the homeserver and its database
//
// Every method returns at once and reports through cb(err, value): SQL and
// the promises the storage VFSes wait on must run on ordinary goroutines,
// never inside the js.FuncOf callback, which holds the event loop. err is
// null or {code, message}; see bridge_js.go for the codes and values.
//
// The database is /hearth.db in one of three storages: the Origin Private
// File System (hearth.dev/hearth/wasm/opfs, WAL with exclusive locking),
// IndexedDB (hearth.dev/hearth/wasm/idb, where OPFS is missing), or memory
// (lost with the worker).
//
// The program registers the SQLite VFSes "opfs", "idb" and "hearth-memory"
// and the "sqlite3" database/sql driver.
package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"syscall/js"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == hashPasswordArg {
		hashPasswordMain()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == warmUpArg {
		warmUpMain()
		return
	}
	// The homeserver's heap is small next to the tab's memory, and the
	// collector runs on the one thread that also serves requests:
	// collecting less often made sequential sends about 15% faster.
	debug.SetGCPercent(400)
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	h := newHost(log, level)
	installBridge(js.Global(), h)
	if ready := js.Global().Get("hearthReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	go warmSQLite(log)
	select {}
}
