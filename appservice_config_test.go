package hearth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testRegistration = `id: bridge
url: ""
as_token: bridge-as
hs_token: bridge-hs
sender_localpart: bridgebot
namespaces:
  users: [{exclusive: true, regex: '@_b_.*:localhost'}]
`

// TestAppServicesConfig checks that app_services reaches the client API
// through Open (the service's as_token acts as its sender), from the file
// and from HEARTH_APP_SERVICES, and that a bad registration stops Open
// with an error naming its file.
func TestAppServicesConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "bridge.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(testRegistration), 0o600)
	os.WriteFile(bad, []byte(strings.Replace(testRegistration, "'@_b_.*:localhost'", "'@_b_(:localhost'", 1)), 0o600)

	cfgFile := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfgFile, []byte("app_services:\n  - "+good+"\n"), 0o600)
	cfg := DefaultConfig()
	if err := cfg.LoadConfigFile(cfgFile); err != nil {
		t.Fatal(err)
	}
	if got := cfg.AppServices.Paths(); len(got) != 1 || got[0] != good {
		t.Fatalf("app_services from the file = %q", got)
	}
	cfg.DataDir = t.TempDir()
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer bridge-as")
	rec := httptest.NewRecorder()
	hs.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"@bridgebot:localhost"`) {
		t.Errorf("whoami with the as_token: %d %s", rec.Code, rec.Body)
	}
	hs.Close()

	cfg = DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.LoadEnv(func(k string) (string, bool) {
		if k == "HEARTH_APP_SERVICES" {
			return good + "," + bad, true
		}
		return "", false
	})
	_, err = Open(context.Background(), cfg, OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), good+":") {
		t.Errorf("Open with a bad registration: %v; want an error naming %s only", err, bad)
	}
}
