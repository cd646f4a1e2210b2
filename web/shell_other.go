//go:build !js

package web

import (
	"embed"
	"io/fs"
)

// dist is the browser shell as make builds it (web/build.mjs). A fresh
// clone holds only dist/README.md, and the shell's routes then answer 503
// with a note saying how to build it.
//
//go:embed dist
var dist embed.FS

// shellFS returns the built shell.
func shellFS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil
	}
	return sub
}
