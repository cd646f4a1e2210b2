//go:build !js

package web

import (
	"embed"
	"io/fs"
)

// embedded is the browser shell as make builds it (web/build.mjs --embed):
// each file once, brotli-compressed where that pays. A fresh clone holds
// only embedded/README.md, and the shell's routes then answer 503 with a
// note saying how to build it.
//
//go:embed embedded
var embedded embed.FS

// registerShellRoutes serves the browser shell at / and its files at
// /<name>.
func (s *Server) registerShellRoutes() {
	sub, err := fs.Sub(embedded, "embedded")
	if err != nil {
		return
	}
	s.mountShell(sub)
}
