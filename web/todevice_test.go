package web

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSendToDevice(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	bob1 := e.user(t, "bob", "B1", "")
	bob2 := e.user(t, "bob", "B2", "")
	ctx := context.Background()

	inbox := func(u *e2eeUser) []string {
		t.Helper()
		msgs, _, err := e.toDevice.ToDeviceSince(ctx, u.id, u.device, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			var c struct {
				N string `json:"n"`
			}
			json.Unmarshal(m.Content, &c)
			if m.Sender != alice.id || m.Type != "m.test" {
				t.Errorf("message %+v, want sender %s and type m.test", m, alice.id)
			}
			out = append(out, c.N)
		}
		return out
	}

	changed := e.notifier.Changed()
	body := map[string]any{"messages": map[string]any{
		bob1.id:                 map[string]any{"*": map[string]string{"n": "all"}},
		"@carol:remote.example": map[string]any{"C": map[string]string{"n": "remote"}},
	}}
	b := e.mustCall(t, alice, "PUT", "/sendToDevice/m.test/txn1", body, 200, nil)
	specSchemas.checkResponse(t, "to_device.yaml", "PUT", "/sendToDevice/{eventType}/{txnId}", 200, b)
	select {
	case <-changed:
	default:
		t.Errorf("sendToDevice did not wake /sync")
	}
	// The same transaction again is answered the same and delivers nothing.
	e.mustCall(t, alice, "PUT", "/sendToDevice/m.test/txn1", body, 200, nil)
	e.mustCall(t, alice, "PUT", "/sendToDevice/m.test/txn2", map[string]any{"messages": map[string]any{
		bob1.id: map[string]any{"B2": map[string]string{"n": "only B2"}, "GONE": map[string]string{"n": "lost"}},
	}}, 200, nil)

	if diff := cmp.Diff([]string{"all"}, inbox(bob1)); diff != "" {
		t.Errorf("B1 inbox (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"all", "only B2"}, inbox(bob2)); diff != "" {
		t.Errorf("B2 inbox (-want +got):\n%s", diff)
	}

	tests := []struct {
		name     string
		body     any
		wantCode int
		wantErr  string
	}{
		{"not JSON", "{", 400, "M_NOT_JSON"},
		{"no messages", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"messages not an object", `{"messages":[]}`, 400, "M_BAD_JSON"},
		{"content not an object", `{"messages":{"@bob:example.org":{"B1":"text"}}}`, 400, "M_BAD_JSON"},
		{"not a user ID", `{"messages":{"bob":{"B1":{}}}}`, 400, "M_INVALID_PARAM"},
		{"content nested 9,000 levels deep", `{"messages":{"` + bob1.id + `":{"B1":{"n":` +
			strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}}}}`, 400, "M_BAD_JSON"},
		{"invalid UTF-8", "{\"messages\":{\"" + bob1.id + "\":{\"B1\":{\"n\":\"\x81\"}}}}", 400, "M_NOT_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.call(t, alice, "PUT", "/sendToDevice/m.test/bad-"+url.PathEscape(tt.name), tt.body)
			if code != tt.wantCode || errcodeOf(b) != tt.wantErr {
				t.Errorf("PUT /sendToDevice = %d %s, want %d %s", code, b, tt.wantCode, tt.wantErr)
			}
		})
	}
	if diff := cmp.Diff([]string{"all"}, inbox(bob1)); diff != "" {
		t.Errorf("B1 inbox after failed sends (-want +got):\n%s", diff)
	}
}
