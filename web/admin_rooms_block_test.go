package web

import (
	"net/url"
	"testing"
)

// A blocked room refuses local joins and invites until the block is lifted.
func TestBlockedRoomRefusesJoinAndInvite(t *testing.T) {
	e := newAdminRoomsEnv(t)
	r := e.createRoom(t, e.alice, map[string]any{"preset": "public_chat"})
	block := "/_synapse/admin/v1/rooms/" + url.PathEscape(r) + "/block"
	status, resp := e.ts.do(t, "PUT", block, e.admin.AccessToken, map[string]any{"block": true})
	wantOK(t, "block", status, resp)

	join := "/_matrix/client/v3/rooms/" + url.PathEscape(r) + "/join"
	status, resp = e.ts.do(t, "POST", join, e.bob.AccessToken, map[string]any{})
	wantError(t, "join a blocked room", status, resp, 403, "M_FORBIDDEN")
	status, resp = e.ts.do(t, "POST", "/_matrix/client/v3/join/"+url.PathEscape(r), e.bob.AccessToken, map[string]any{})
	wantError(t, "join a blocked room by ID", status, resp, 403, "M_FORBIDDEN")
	invite := "/_matrix/client/v3/rooms/" + url.PathEscape(r) + "/invite"
	status, resp = e.ts.do(t, "POST", invite, e.alice.AccessToken, map[string]any{"user_id": e.carl.UserID})
	wantError(t, "invite into a blocked room", status, resp, 403, "M_FORBIDDEN")

	status, resp = e.ts.do(t, "PUT", block, e.admin.AccessToken, map[string]any{"block": false})
	wantOK(t, "unblock", status, resp)
	e.join(t, e.bob, r)
}
