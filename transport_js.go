package hearth

import (
	"errors"
	"log/slog"
	"net/http"
)

// errNoRelay is what outbound federation answers in a tab without a relay.
var errNoRelay = errors.New("outbound federation from the browser needs a relay (relay.url): a tab cannot open connections to other servers")

// noRelayTransport fails every outbound federation request of a tab that
// has no relay.
type noRelayTransport struct{}

func (noRelayTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, errNoRelay
}

// newDirectTransport is outbound federation without a relay. A browser
// cannot open sockets, so direct HTTPS with server discovery (DNS SRV,
// its own TLS dialer) cannot work in a tab and stays out of the wasm; its
// requests fail with errNoRelay, as the relay-less tab's did before, only
// sooner and saying why.
func newDirectTransport(_ *Config, _ *slog.Logger) (http.RoundTripper, error) {
	return noRelayTransport{}, nil
}
