//go:build wasip1

// Command invite-policy is a hearth module (docs/modules.md) that decides
// about invites: it refuses invites from the users and servers it is told
// to block, and asks the server to accept at once the invites from the
// users and servers it is told to trust. Every other invite waits for the
// user as usual. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o invite-policy.wasm ./examples/modules/invite-policy
//
// and configure it with
//
//	modules:
//	  - path: invite-policy.wasm
//	    config:
//	      reject_servers: [spam.example]
//	      reject_users: ["@pest:example.org"]
//	      accept_servers: [family.example]
//	      accept_users: ["@best-friend:example.org"]
//
// Blocking wins over trusting. Accepting is the server's action: the
// module answers user_may_invite with {"allow": true, "auto_accept": true}
// and the server joins the invitee once the invite is stored.
package main

import (
	"encoding/json"
	"slices"
	"strings"

	"hearth.dev/hearth/modules/guest"
)

func main() {}

type policy struct {
	RejectServers []string `json:"reject_servers"`
	RejectUsers   []string `json:"reject_users"`
	AcceptServers []string `json:"accept_servers"`
	AcceptUsers   []string `json:"accept_users"`
}

var cfg *policy

func config() *policy {
	if cfg == nil {
		cfg = &policy{}
		if err := json.Unmarshal(guest.Config(), cfg); err != nil {
			guest.Log(guest.LevelError, "config: "+err.Error())
		}
	}
	return cfg
}

// serverOf is the server name of a user ID (what follows the first ':').
func serverOf(userID string) string {
	if i := strings.IndexByte(userID, ':'); i >= 0 {
		return userID[i+1:]
	}
	return ""
}

//go:wasmexport user_may_invite
func userMayInvite(ptr, n uint32) uint64 {
	var in struct {
		Inviter string `json:"inviter"`
		Invitee string `json:"invitee"`
		RoomID  string `json:"room_id"`
	}
	if err := json.Unmarshal(guest.Input(ptr, n), &in); err != nil {
		return guest.Deny("M_BAD_JSON", "unreadable invite")
	}
	p, server := config(), serverOf(in.Inviter)
	if slices.Contains(p.RejectUsers, in.Inviter) || slices.Contains(p.RejectServers, server) {
		guest.Log(guest.LevelInfo, "refused an invite from "+in.Inviter+" to "+in.RoomID)
		return guest.Deny("M_FORBIDDEN", "This user does not accept invites from you.")
	}
	if slices.Contains(p.AcceptUsers, in.Inviter) || slices.Contains(p.AcceptServers, server) {
		return guest.Return(guest.Verdict{Allow: true, AutoAccept: true})
	}
	return guest.Allow()
}
