package main

import (
	"os"
	"syscall/js"

	"hearth.dev/hearth/storage"
)

// hashPasswordArg, as the program's first argument, makes it hash one
// password and exit instead of serving: the worker script runs the same
// module a second time in a helper worker (web/ui/worker.js), so the
// owner's argon2id hash is made on another thread while the first start
// opens the database.
const hashPasswordArg = "hash-password"

// hashPasswordMain hashes $HEARTH_OWNER_PASSWORD with
// storage.HashPassword (the server's parameters: nothing is weakened) and
// hands the PHC string, or an error message, to
// globalThis.hearthHashed(hash, err).
func hashPasswordMain() {
	hash, err := storage.HashPassword(os.Getenv("HEARTH_OWNER_PASSWORD"))
	msg := ""
	if err != nil {
		hash, msg = "", err.Error()
	}
	if cb := js.Global().Get("hearthHashed"); cb.Type() == js.TypeFunction {
		cb.Invoke(hash, msg)
	}
}
