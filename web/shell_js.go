package web

import "io/fs"

// shellFS returns nil: the wasm build runs inside the shell and does not
// serve it (embedding it would also embed the previous wasm build).
func shellFS() fs.FS { return nil }
