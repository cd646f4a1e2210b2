package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

// TestCreateRoomInviteLimit checks that limits.max_create_room_invites
// reaches createRoom through Open: a list at the bound makes the room, a
// longer one is refused with 400 M_INVALID_PARAM.
func TestCreateRoomInviteLimit(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.MaxCreateRoomInvites() != 100 {
		t.Errorf("default limits.max_create_room_invites = %d, want 100", cfg.MaxCreateRoomInvites())
	}
	cfg.DataDir = t.TempDir()
	cfg.Limits.MaxCreateRoomInvites = "3"
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	ctx := context.Background()
	userID := "@alice:" + hs.ServerName
	if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	create := func(n int) *httptest.ResponseRecorder {
		var invite []string
		for i := range n {
			invite = append(invite, fmt.Sprintf("@u%d:%s", i, hs.ServerName))
		}
		body, _ := json.Marshal(map[string]any{"invite": invite})
		req := httptest.NewRequest("POST", "/_matrix/client/v3/createRoom", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		rec := httptest.NewRecorder()
		hs.Handler.ServeHTTP(rec, req)
		return rec
	}
	if rec := create(3); rec.Code != http.StatusOK {
		t.Errorf("createRoom with 3 invites (the bound): %d %s", rec.Code, rec.Body)
	}
	rec := create(4)
	var e struct{ ErrCode string }
	if json.Unmarshal(rec.Body.Bytes(), &e); rec.Code != http.StatusBadRequest || e.ErrCode != "M_INVALID_PARAM" {
		t.Errorf("createRoom with 4 invites over a bound of 3: %d %s, want 400 M_INVALID_PARAM", rec.Code, rec.Body)
	}

	for _, bad := range []string{"0", "-1", "many", ""} {
		c := DefaultConfig()
		c.Limits.MaxCreateRoomInvites = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "limits.max_create_room_invites") {
			t.Errorf("Validate with limits.max_create_room_invites = %q: %v, want an error naming the key", bad, err)
		}
	}
}

// TestTrustedProxiesConfig checks trusted_proxies: a YAML list or a
// comma-separated string, refused when a range does not parse, and wired
// through Open so that clients behind a trusted proxy are rate-limited
// each on their own address.
func TestTrustedProxiesConfig(t *testing.T) {
	if p, err := DefaultConfig().TrustedProxies.Prefixes(); err != nil || len(p) != 0 {
		t.Errorf("default trusted_proxies = %v, %v; want none", p, err)
	}
	file := filepath.Join(t.TempDir(), "hearth.yaml")
	if err := os.WriteFile(file, []byte("trusted_proxies: [10.0.0.0/8, 192.0.2.7]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadConfigFile(file); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if p, err := c.TrustedProxies.Prefixes(); err != nil || !slices.Equal(p, want) {
		t.Errorf("trusted_proxies from a YAML list = %v, %v; want %v", p, err, want)
	}
	c.LoadEnv(func(k string) (string, bool) { return "10.0.0.0/8, fd00::/8", k == "HEARTH_TRUSTED_PROXIES" })
	if p, err := c.TrustedProxies.Prefixes(); err != nil || len(p) != 2 || p[1] != netip.MustParsePrefix("fd00::/8") {
		t.Errorf("trusted_proxies from the environment = %v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.org", "10.0.0.0/8,,x"} {
		c := DefaultConfig()
		c.TrustedProxies = CIDRList(bad)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
			t.Errorf("Validate with trusted_proxies %q: %v, want an error naming the key", bad, err)
		}
	}

	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.TrustedProxies = "10.0.0.0/8"
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	login := func(client string, i int) int {
		body := fmt.Sprintf(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"nobody%d"},"password":"x"}`, i)
		req := httptest.NewRequest("POST", "/_matrix/client/v3/login", strings.NewReader(body))
		req.RemoteAddr = "10.0.0.1:4321"
		req.Header.Set("X-Forwarded-For", client)
		rec := httptest.NewRecorder()
		hs.Handler.ServeHTTP(rec, req)
		return rec.Code
	}
	n := 0
	for ; n < 50 && login("203.0.113.1", n) != http.StatusTooManyRequests; n++ {
	}
	if n == 50 {
		t.Fatal("client A was never rate-limited")
	}
	if code := login("203.0.113.2", 0); code != http.StatusForbidden {
		t.Errorf("client B behind the same proxy after A ran dry: %d, want 403", code)
	}
}
