//go:build wasip1

// Command statereader is a test module: its user_may_join_room refuses a
// room whose current m.room.topic is "closed" (read with state_event),
// its on_new_event logs each event ID, its check_registration_for_spam
// refuses user names with "spam" in them, and it checks the login type
// org.example.magic: the password "sesame" logs in the user named.
package main

import (
	"encoding/json"
	"strings"

	"hearth.dev/hearth/modules/guest"
)

func main() {}

//go:wasmexport user_may_join_room
func userMayJoinRoom(ptr, n uint32) uint64 {
	var in struct {
		RoomID string `json:"room_id"`
	}
	json.Unmarshal(guest.Input(ptr, n), &in)
	var ev struct {
		Content struct {
			Topic string `json:"topic"`
		} `json:"content"`
	}
	if b := guest.StateEvent(in.RoomID, "m.room.topic", ""); b != nil {
		json.Unmarshal(b, &ev)
	}
	if ev.Content.Topic == "closed" {
		return guest.Deny("ORG.EXAMPLE_CLOSED", "the room is closed")
	}
	return guest.Allow()
}

//go:wasmexport on_new_event
func onNewEvent(ptr, n uint32) uint64 {
	var ev struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(guest.Input(ptr, n), &ev)
	guest.Log(guest.LevelInfo, "new event "+ev.EventID)
	return 0
}

//go:wasmexport login_types
func loginTypes(ptr, n uint32) uint64 { return guest.Return([]string{"org.example.magic"}) }

//go:wasmexport check_auth
func checkAuth(ptr, n uint32) uint64 {
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	json.Unmarshal(guest.Input(ptr, n), &in)
	if in.Password != "sesame" || in.User == "" {
		return guest.Deny("M_FORBIDDEN", "wrong magic word")
	}
	return guest.Return(map[string]string{"user_id": in.User})
}

//go:wasmexport check_registration_for_spam
func checkRegistrationForSpam(ptr, n uint32) uint64 {
	if name, _ := guest.StringField(guest.Input(ptr, n), "username"); strings.Contains(name, "spam") {
		return guest.Deny("M_FORBIDDEN", "no spammers")
	}
	return guest.Allow()
}
