//go:build wasip1

// Command loop is a test module whose check_event_for_spam never returns,
// and whose user_may_create_room answers at once.
package main

import "hearth.dev/hearth/modules/guest"

func main() {}

var n int

//go:wasmexport check_event_for_spam
func checkEventForSpam(ptr, size uint32) uint64 {
	for {
		n++
	}
}

//go:wasmexport user_may_create_room
func userMayCreateRoom(ptr, size uint32) uint64 { return guest.Allow() }
