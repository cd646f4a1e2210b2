package hearth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

// TestOperatorConfig checks that registration_shared_secret and the TURN
// keys load from YAML and the environment, are validated, and reach the
// client API through Open.
func TestOperatorConfig(t *testing.T) {
	def := DefaultConfig()
	if def.RegistrationSharedSecret != "" || def.TURNURIs != "" || def.TURNUserLifetime != "1h" {
		t.Errorf("defaults: secret %q, uris %q, lifetime %q", def.RegistrationSharedSecret, def.TURNURIs, def.TURNUserLifetime)
	}
	cfg := DefaultConfig()
	path := filepath.Join(t.TempDir(), "hearth.yaml")
	yml := "registration_shared_secret: shh\nturn_uris: [\"turn:a.example:3478\", \"turns:b.example:5349\"]\nturn_shared_secret: tss\nturn_user_lifetime: 30m\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadConfigFile(path); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	turn, _ := cfg.TURN()
	if !slices.Equal(turn.URIs, []string{"turn:a.example:3478", "turns:b.example:5349"}) || turn.SharedSecret != "tss" || turn.UserLifetime.Minutes() != 30 {
		t.Errorf("TURN() = %+v", turn)
	}
	env := map[string]string{"HEARTH_TURN_URIS": "turn:c.example", "HEARTH_REGISTRATION_SHARED_SECRET": "env"}
	cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if turn, _ := cfg.TURN(); !slices.Equal(turn.URIs, []string{"turn:c.example"}) || cfg.RegistrationSharedSecret != "env" {
		t.Errorf("from the environment: %+v, secret %q", turn, cfg.RegistrationSharedSecret)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.TURNUserLifetime = "soon" },
		func(c *Config) { c.TURNUserLifetime = "-1h" },
		func(c *Config) { c.TURNURIs = "https://turn.example" },
	} {
		c := DefaultConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted turn_uris %q, turn_user_lifetime %q", c.TURNURIs, c.TURNUserLifetime)
		}
	}

	// Through Open: the shared-secret API answers, and turnServer hands
	// out credentials.
	cfg.DataDir = t.TempDir()
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/_synapse/admin/v1/register")
	if err != nil {
		t.Fatal(err)
	}
	var nonce struct{ Nonce string }
	json.NewDecoder(resp.Body).Decode(&nonce)
	resp.Body.Close()
	if resp.StatusCode != 200 || nonce.Nonce == "" {
		t.Errorf("GET /_synapse/admin/v1/register: %d %+v", resp.StatusCode, nonce)
	}
	ctx := context.Background()
	userID := "@alice:" + hs.ServerName
	if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v3/voip/turnServer", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var creds struct {
		Username string
		URIs     []string
		TTL      int
	}
	json.NewDecoder(resp.Body).Decode(&creds)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(creds.Username, ":"+userID) || creds.TTL != 1800 || !slices.Equal(creds.URIs, []string{"turn:c.example"}) {
		t.Errorf("turnServer through Open: %d %+v", resp.StatusCode, creds)
	}
}
