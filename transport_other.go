//go:build !js

package hearth

import (
	"log/slog"
	"net/http"

	"hearth.dev/hearth/federation"
)

// newDirectTransport is outbound federation without a relay: HTTPS to each
// server found by server discovery (federation.resolve overrides it).
func newDirectTransport(cfg *Config, log *slog.Logger) (http.RoundTripper, error) {
	resolve, err := cfg.Federation.ResolveMap()
	if err != nil {
		return nil, err
	}
	if cfg.Federation.InsecureSkipVerify == "true" {
		log.Warn("federation.insecure_skip_verify is true: outbound federation does not check certificates (test harnesses only)")
	}
	if len(resolve) > 0 {
		log.Info("federation.resolve overrides server discovery", "resolve", cfg.Federation.Resolve)
	}
	t, err := federation.NewHTTPSTransport(federation.TransportOptions{
		CAFile: cfg.Federation.CAFile, InsecureSkipVerify: cfg.Federation.InsecureSkipVerify == "true",
		AllowPrivateAddresses: cfg.Federation.AllowPrivateAddresses == "true", Resolve: resolve,
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
