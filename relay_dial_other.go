//go:build !js

package hearth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"

	"hearth.dev/hearth/relay"
)

// relayHTTPClient dials the relay natively: federation.ca_file's roots are
// trusted besides the system's, and federation.resolve applies to the
// relay's host as to any server name (test harnesses on one machine). The
// browser dials with its own WebSocket and ignores it.
func relayHTTPClient(cfg Config) (relay.DialClient, error) {
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
