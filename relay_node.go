package hearth

import (
	"context"
	"log/slog"
	"net/http"

	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/relay"
)

// newRelayClient builds the node's relay client for relay.url: it answers
// the relay's requests with the federation handler (hs.Federation, built
// after it) and, with relay.outbound on, carries outbound federation.
func (hs *Homeserver) newRelayClient(cfg Config, key signing.Key, log *slog.Logger) (*relay.Client, error) {
	hc, err := relayHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return relay.NewClient(relay.ClientOptions{
		URL: cfg.Relay.URL, Token: cfg.Relay.Token, ServerName: hs.ServerName, RelayName: cfg.Relay.Name, Key: key,
		Handler:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hs.Federation.ServeHTTP(w, r) }),
		HTTPClient: hc, Logger: log,
	})
}

// startRelay keeps the node connected to its relay until Close.
func (hs *Homeserver) startRelay() {
	if hs.relay == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hs.stopRelay = func() { cancel(); <-done }
	go func() {
		defer close(done)
		hs.relay.Run(ctx)
	}()
}

// RelayStatus says whether the server is connected to its relay
// (relay.url), and how many stored transactions the relay still had to
// replay when it connected.
func (hs *Homeserver) RelayStatus() relay.Status {
	if hs.relay == nil {
		return relay.Status{State: relay.StateOff}
	}
	return hs.relay.Status()
}
