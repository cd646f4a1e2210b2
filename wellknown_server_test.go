package hearth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWellKnownServerDerived(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"no federation listener", func(c *Config) {}, ""},
		{"explicit", func(c *Config) { c.Federation.WellKnownServer = "fed.example.org:443" }, "fed.example.org:443"},
		{"relay node name", func(c *Config) { c.Relay.Name = "me.relay.example.net" }, "me.relay.example.net"},
		{"own federation port", func(c *Config) { c.Federation.Listen = ":8449" }, "example.org:8449"},
		{"public host", func(c *Config) {
			c.Federation.Listen, c.PublicBaseURL = "0.0.0.0:8449", "https://matrix.example.org/"
		}, "matrix.example.org:8449"},
		{"behind a TLS proxy", func(c *Config) { c.Federation.Listen, c.Federation.TLS = ":8449", "off" }, ""},
		{"same address as the client API", func(c *Config) { c.Federation.Listen = c.Listen }, ""},
		{"IP literal server name", func(c *Config) { c.ServerName, c.Federation.Listen = "127.0.0.1:8448", ":8449" }, ""},
	} {
		c := DefaultConfig()
		c.ServerName = "example.org"
		tt.set(&c)
		if got := c.WellKnownServer(); got != tt.want {
			t.Errorf("%s: WellKnownServer() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The client listener of a server built by Open answers
// /.well-known/matrix/server with its delegation, or M_NOT_FOUND.
func TestWellKnownServerServed(t *testing.T) {
	for _, tt := range []struct {
		delegate   string
		wantStatus int
		want       string
	}{{"", http.StatusNotFound, "M_NOT_FOUND"}, {"fed.example.org:443", http.StatusOK, "fed.example.org:443"}} {
		cfg := DefaultConfig()
		cfg.ServerName = "example.org"
		cfg.DataDir = t.TempDir()
		cfg.Federation.WellKnownServer = tt.delegate
		hs, err := Open(context.Background(), cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(hs.Handler)
		resp, err := http.Get(srv.URL + "/.well-known/matrix/server")
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		srv.Close()
		hs.Close()
		got := out["m.server"]
		if tt.wantStatus != http.StatusOK {
			got = out["errcode"]
		}
		if resp.StatusCode != tt.wantStatus || got != tt.want {
			t.Errorf("delegating to %q: %d %v, want %d %s", tt.delegate, resp.StatusCode, out, tt.wantStatus, tt.want)
		}
	}
}
