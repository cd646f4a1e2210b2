// Package httpout is the HTTP client of the homeserver's own outbound
// requests that are not federation (push gateways, application services).
// Natively it is net/http's Client; in the browser (client_js.go) it is the
// browser's fetch, whose TLS, connection pool and proxy settings are the
// browser's, so the tab's build links no http.Transport, crypto/tls or
// crypto/x509 (TestBrowserBuildDeps checks it). The callers hold a Client,
// never a *http.Client: using net/http's Client at all links its
// Transport.
package httpout

import "net/http"

// Client sends one request and returns its answer, following redirects as
// net/http's Client does; *http.Client is one.
type Client interface {
	Do(*http.Request) (*http.Response, error)
}
