package hearth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestCoreServicesWired checks that hearth.Open serves the routes backed by
// the core services it builds: the admin room delete (core/adminroom) and
// the cross-signing upload (core/e2ee).
func TestCoreServicesWired(t *testing.T) {
	hs := openTestHomeserver(t)
	owner, err := hs.CreateOwner(t.Context(), "owner", "owner password")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL}
	token := c.login(owner, "owner password")

	roomID, _ := c.ok("POST", "/_matrix/client/v3/createRoom", token, map[string]any{"name": "doomed"})["room_id"].(string)
	res := c.ok("DELETE", "/_synapse/admin/v1/rooms/"+url.PathEscape(roomID), token, map[string]any{})
	if kicked, _ := res["kicked_users"].([]any); len(kicked) != 1 || kicked[0] != owner {
		t.Errorf("delete answered %v, want the owner kicked", res)
	}
	if status, _ := c.do("GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(roomID), token, nil); status != 404 {
		t.Errorf("the purged room is still known: %d", status)
	}

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding.EncodeToString(pub)
	master := map[string]any{"user_id": owner, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + b64: b64}}
	c.ok("POST", "/_matrix/client/v3/keys/device_signing/upload", token, map[string]any{"master_key": master})
	got := c.ok("POST", "/_matrix/client/v3/keys/query", token, map[string]any{"device_keys": map[string]any{owner: []string{}}})
	keys, _ := got["master_keys"].(map[string]any)
	if mk, _ := keys[owner].(map[string]any); mk == nil || mk["keys"].(map[string]any)["ed25519:"+b64] != b64 {
		t.Errorf("master keys after the upload = %v", got["master_keys"])
	}
}
