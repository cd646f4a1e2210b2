package web

import (
	"encoding/json"
	"net/url"
	"testing"

	"hearth.dev/hearth/core/roomversion"
)

func TestAdminEvent(t *testing.T) {
	env := newRoomEnv(t)
	admin := env.user("root", true)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{"room_version": "11"})
	msg := env.send(alice, roomID, "t", "<b>&</b>")
	path := "/_hearth/admin/v1/events/" + url.PathEscape(msg)

	env.wantError("GET", path, alice, nil, 403, "M_FORBIDDEN")
	env.wantError("GET", path, "", nil, 401, "M_MISSING_TOKEN")
	env.wantError("GET", "/_hearth/admin/v1/events/"+url.PathEscape("$nope"), admin, nil, 404, "M_NOT_FOUND")

	var raw map[string]json.RawMessage
	env.must("GET", path, admin, nil, &raw)
	if string(raw["rejected"]) != "null" || string(raw["outlier"]) != "false" || string(raw["room_version"]) != `"11"` {
		t.Errorf("admin view %s", env.do("GET", path, admin, nil).Body)
	}
	av := env.admin(admin, msg)
	if av.StreamOrdering <= 0 || av.Depth <= 0 || av.StateGroup <= 0 {
		t.Errorf("admin view %+v", av)
	}
	keyID, pub := env.publishedKey()
	v, err := roomversion.Lookup("11")
	if err != nil {
		t.Fatal(err)
	}
	fe := verifyPDU(t, v, msg, roomID, av.PDU, keyID, pub)
	if len(fe.AuthEvents) != 3 {
		t.Errorf("a message in v11 has %d auth events, want create, power levels and member", len(fe.AuthEvents))
	}
}
