package appservice

import (
	"context"
	"errors"
	"net/url"

	as "hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/internal/httpout"
)

// The browser build has no application services: a tab reads no
// registration files (registration_js.go refuses every one, and Open
// stops), so the set is always empty, Start starts no delivery loop and
// nothing calls a service. The delivery code (transactions, retries,
// the requests) stays out of the tab's download (TestBrowserBuildDeps).

var errNoServices = errors.New("application services are not run in the browser build")

// run never runs in the browser build (the set of services is empty).
func (s *Sender) run(*as.Registration) {}

// Call refuses: the browser build has no application services to call.
func Call(context.Context, httpout.Client, *as.Registration, string, string, url.Values, []byte) ([]byte, error) {
	return nil, errNoServices
}
