package hearth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hearth.dev/hearth/core/signing"
)

// onBind plays the identity server: it tells b that bob bound an address
// with one pending invite (PUT /3pid/onbind, no X-Matrix), and returns the
// answer.
func onBind(t *testing.T, n *fedNet, server, mxid, roomID, sender string, signed json.RawMessage) (int, map[string]any) {
	t.Helper()
	n.mu.Lock()
	base := n.hosts[server]
	n.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"medium": "email", "address": "bob@example.org", "mxid": mxid,
		"invites": []any{map[string]any{"medium": "email", "address": "bob@example.org", "mxid": mxid,
			"room_id": roomID, "sender": sender, "signed": signed}}})
	req, _ := http.NewRequest("PUT", base+"/_matrix/federation/v1/3pid/onbind", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// A third-party invite exchanged for an invite: alice on a invites an
// address (an m.room.third_party_invite holding the identity server's
// key); once bob on b binds it, b's /3pid/onbind asks a at
// /exchange_third_party_invite, a issues the invite (signed by b through
// /invite) with the identity server's signed object, and bob's /sync shows
// it. An object signed by another key is refused by a's auth rules, and
// b's onbind says so.
func TestThirdPartyInviteExchange(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	idPub, idKey, _ := ed25519.GenerateKey(nil)
	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "private_chat"})["room_id"].(string)
	a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.third_party_invite/tok1", a.token, map[string]any{
		"display_name": "b...@example.org", "key_validity_url": "https://id.example.org/_matrix/identity/v2/pubkey/isvalid",
		"public_key": signing.EncodeBase64(idPub)})
	sign := func(key ed25519.PrivateKey) json.RawMessage {
		obj, _ := json.Marshal(map[string]string{"mxid": b.user, "token": "tok1"})
		signed, err := signing.SignJSON(obj, "id.example.org", "ed25519:0", key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}

	_, forger, _ := ed25519.GenerateKey(nil)
	if status, out := onBind(t, n, "b.test", b.user, roomID, a.user, sign(forger)); status != http.StatusForbidden {
		t.Fatalf("onbind with a forged signed object = %d %v, want 403 from a's auth rules", status, out)
	}
	if status, out := onBind(t, n, "b.test", "@nobody:b.test", roomID, a.user, sign(idKey)); status != http.StatusNotFound {
		t.Fatalf("onbind for a user b does not have = %d %v, want 404", status, out)
	}
	if status, out := onBind(t, n, "b.test", b.user, roomID, a.user, sign(idKey)); status != http.StatusOK || len(out) != 0 {
		t.Fatalf("onbind = %d %v, want 200 {}", status, out)
	}
	// Asked directly, a refuses an exchange for a user of another server
	// than the asking one, and a body for another room.
	exchange := "/_matrix/federation/v1/exchange_third_party_invite/" + url.PathEscape(roomID)
	partial := func(room, target string) map[string]any {
		return map[string]any{"type": "m.room.member", "room_id": room, "sender": a.user, "state_key": target,
			"content": map[string]any{"membership": "invite", "third_party_invite": map[string]any{"display_name": "x", "signed": sign(idKey)}}}
	}
	for _, tt := range []struct {
		body map[string]any
		want string
	}{{partial(roomID, "@carol:c.test"), "403"}, {partial("!other:a.test", b.user), "400"}} {
		err := b.hs.FederationClient.Request(context.Background(), "a.test", "PUT", exchange, tt.body, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("exchange of %v: %v, want a %s", tt.body, err, tt.want)
		}
	}
	member := a.c.ok("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(b.user), a.token, nil)
	tpi, _ := member["third_party_invite"].(map[string]any)
	if member["membership"] != "invite" || tpi["display_name"] != "b...@example.org" || tpi["signed"] == nil {
		t.Fatalf("bob's membership on a = %v, want an invite with the third-party invite", member)
	}
	eventually(t, "bob's /sync to show the invite", func() bool {
		sync := b.c.ok("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
		rooms, _ := sync["rooms"].(map[string]any)
		invite, _ := rooms["invite"].(map[string]any)
		_, ok := invite[roomID]
		return ok
	})
}
