package federation

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"hearth.dev/hearth/core/signing"
)

func TestServerKeys(t *testing.T) {
	key, err := signing.GenerateKey("a_test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	ks := NewKeyServer(KeyServerOptions{ServerName: "example.org", Key: key, Now: func() time.Time { return now }})
	for _, path := range []string{"/_matrix/key/v2/server", "/_matrix/key/v2/server/ed25519:a_test"} {
		t.Run(path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ks.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
			}
			var got struct {
				ServerName   string                          `json:"server_name"`
				VerifyKeys   map[string]struct{ Key string } `json:"verify_keys"`
				ValidUntilTS int64                           `json:"valid_until_ts"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.ServerName != "example.org" || got.ValidUntilTS != now.Add(KeyValidity).UnixMilli() {
				t.Errorf("got server_name %q valid_until_ts %d", got.ServerName, got.ValidUntilTS)
			}
			pub, err := signing.DecodePublicKey(got.VerifyKeys[key.ID].Key)
			if err != nil {
				t.Fatalf("verify_keys[%s]: %v", key.ID, err)
			}
			if !pub.Equal(key.Public()) {
				t.Fatalf("published key %s, want %s", got.VerifyKeys[key.ID].Key, key.PublicBase64())
			}
			if err := signing.VerifyJSON(rec.Body.Bytes(), "example.org", key.ID, pub); err != nil {
				t.Fatalf("self-signature: %v", err)
			}
			other, _ := signing.GenerateKey("other")
			if err := signing.VerifyJSON(rec.Body.Bytes(), "example.org", key.ID, other.Public()); err == nil {
				t.Fatal("the signature verifies under another key")
			}
		})
	}
	rec := httptest.NewRecorder()
	ks.ServeHTTP(rec, httptest.NewRequest("POST", "/_matrix/key/v2/server", nil))
	if rec.Code == http.StatusOK {
		t.Fatalf("POST answered %d", rec.Code)
	}
}
