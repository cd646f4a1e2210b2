package hearth

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"

	"github.com/google/go-cmp/cmp"
)

func TestFederationConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Federation.TLS != "on" || c.Federation.AllowPrivateAddresses != "false" || c.Federation.Listen != "" {
		t.Errorf("defaults %+v", c.Federation)
	}
	c.Federation.Resolve = " a.test=127.0.0.1:1 , 127.0.0.2:8=127.0.0.2:9,"
	c.Federation.TrustedKeyServers = "matrix.org, notary.test:8448"
	m, err := c.Federation.ResolveMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a.test": "127.0.0.1:1", "127.0.0.2:8": "127.0.0.2:9"}, m); diff != "" {
		t.Errorf("ResolveMap (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"matrix.org", "notary.test:8448"}, c.Federation.KeyServers()); diff != "" {
		t.Errorf("KeyServers (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		set  func(f *FederationConfig)
		want string
	}{
		{func(f *FederationConfig) { f.TLS = "maybe" }, "federation.tls"},
		{func(f *FederationConfig) { f.InsecureSkipVerify = "yes" }, "federation.insecure_skip_verify"},
		{func(f *FederationConfig) { f.AllowPrivateAddresses = "1" }, "federation.allow_private_addresses"},
		{func(f *FederationConfig) { f.Listen = ":8448" }, "federation.tls_cert_file"},
		{func(f *FederationConfig) { f.Resolve = "a.test" }, "federation.resolve"},
		{func(f *FederationConfig) { f.Resolve = "a.test=nohost" }, "federation.resolve"},
		{func(f *FederationConfig) { f.Resolve = "bad name=1.2.3.4:5" }, "federation.resolve"},
		{func(f *FederationConfig) { f.TrustedKeyServers = "a b" }, "federation.trusted_key_servers"},
		{func(f *FederationConfig) { f.WellKnownServer = "https://m.example.org" }, "federation.well_known_server"},
		{func(f *FederationConfig) { f.MinBackoff = "soon" }, "federation.min_backoff"},
		{func(f *FederationConfig) { f.MaxBackoff = "-1h" }, "federation.max_backoff"},
		{func(f *FederationConfig) { f.CatchUpAfter = "0s" }, "federation.catch_up_after"},
		{func(f *FederationConfig) { f.MinBackoff, f.MaxBackoff = "2h", "1h" }, "federation.max_backoff"},
	} {
		c := DefaultConfig()
		tt.set(&c.Federation)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate with %+v: %v, want an error naming %s", c.Federation, err, tt.want)
		}
	}
	// tls off needs no certificate.
	c = DefaultConfig()
	c.Federation.Listen, c.Federation.TLS = ":8448", "off"
	if err := c.Validate(); err != nil {
		t.Errorf("listen with tls off: %v", err)
	}
}

// federation.min_backoff reaches the sender built by Open: a destination
// that cannot be reached is retried after that wait, recorded with its
// retry state.
func TestFederationBackoffConfigured(t *testing.T) {
	c := DefaultConfig()
	if b, err := c.Federation.Backoff(); err != nil || b != (Backoff{Min: 10 * time.Second, Max: time.Hour, CatchUpAfter: time.Hour}) {
		t.Fatalf("default backoff = %+v, %v", b, err)
	}
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}, configure: func(_ string, cfg *Config) {
		cfg.Federation.MinBackoff, cfg.Federation.MaxBackoff = "7s", "30s"
	}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	n.setDown("b.test", true)
	a.send(roomID, "while b is away")
	var r core.DestinationRetry
	eventually(t, "a to back off from b", func() bool {
		var err error
		r, err = storage.NewFederationQueueStore(a.hs.db).Retry(context.Background(), "b.test")
		return err == nil && r.RetryInterval > 0
	})
	if r.RetryInterval != 7000 {
		t.Fatalf("retry interval after the first failure = %d ms, want federation.min_backoff's 7000", r.RetryInterval)
	}
}
