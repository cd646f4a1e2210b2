package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	if _, err := hs.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
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
