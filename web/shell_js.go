package web

// registerShellRoutes does nothing: the wasm build runs inside the shell and
// neither embeds nor serves it (embedding it would also embed the previous
// wasm build).
func (s *Server) registerShellRoutes() {}
