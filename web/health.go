package web

import "net/http"

// registerHealthRoutes serves GET /health, the liveness check load
// balancers and container runtimes poll (Synapse answers it the same way).
func (s *Server) registerHealthRoutes() {
	s.mux.HandleFunc("GET /health", getHealth)
}

// getHealth answers 200 "OK" in plain text.
func getHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("OK"))
}
