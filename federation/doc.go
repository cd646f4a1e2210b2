// Package federation is hearth's server-facing HTTP surface, the
// server-server API, in the layers of seed 001: transport (HTTP in and out,
// X-Matrix request signing), transactions, PDUs and the keys servers
// publish and fetch. It reaches storage only through interfaces that core
// declares and never imports web; cmd/hearth and wasm wire it.
//
// Importing the package has no side effects.
package federation
