package hearth

import (
	"context"
	"strings"
	"testing"

	"hearth.dev/hearth/relay"
)

// The relay keys come from YAML, HEARTH_RELAY_* variables and --relay-*
// flags like every key, and bad values are refused.
func TestRelayConfig(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.Relay.URL != "" || cfg.Relay.Outbound != "off" {
		t.Errorf("default relay config: %+v", cfg.Relay)
	}
	env := map[string]string{"HEARTH_RELAY_URL": "wss://relay.example/_hearth/relay/v1/connect", "HEARTH_RELAY_TOKEN": "hrt_x", "HEARTH_RELAY_OUTBOUND": "on"}
	cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if cfg.Relay.URL != env["HEARTH_RELAY_URL"] || cfg.Relay.Token != "hrt_x" || cfg.Relay.Outbound != "on" {
		t.Errorf("relay config from the environment: %+v", cfg.Relay)
	}
	flags := map[string]bool{}
	for _, k := range cfg.ConfigKeys() {
		flags[k.Flag()] = true
	}
	for _, f := range []string{"relay-url", "relay-token", "relay-outbound"} {
		if !flags[f] {
			t.Errorf("no --%s flag", f)
		}
	}
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	bad := cfg
	bad.Relay.Outbound = "maybe"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "relay.outbound") {
		t.Errorf("relay.outbound maybe: %v", err)
	}
	bad = cfg
	bad.Relay.URL = "https://relay.example/"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "relay.url") {
		t.Errorf("relay.url https: %v", err)
	}
}

// Without relay.url there is no relay client, and the status says off.
func TestRelayOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "error"
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	if s := hs.RelayStatus(); s.State != relay.StateOff {
		t.Errorf("RelayStatus without a relay: %+v", s)
	}
}
