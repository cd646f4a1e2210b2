package hearth

import (
	"strings"
	"testing"

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
