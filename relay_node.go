package hearth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

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

// relayHTTPClient dials the relay natively: federation.ca_file's roots are
// trusted besides the system's, and federation.resolve applies to the
// relay's host as to any server name (test harnesses on one machine). The
// browser dials with its own WebSocket and ignores it.
func relayHTTPClient(cfg Config) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if f := cfg.Federation.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("federation.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("federation.ca_file: %s holds no PEM certificate", f)
		}
	}
	resolve, err := cfg.Federation.ResolveMap()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if to, ok := resolve[addr]; ok {
				addr = to
			} else if to, ok := resolve[host]; ok {
				addr = to
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
			InsecureSkipVerify: cfg.Federation.InsecureSkipVerify == "true"},
	}}, nil
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
