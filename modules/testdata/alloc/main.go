//go:build wasip1

// Command alloc is a test module whose check_event_for_spam allocates
// more memory than any cap, and whose user_may_create_room answers at once.
package main

import "hearth.dev/hearth/modules/guest"

func main() {}

var keep [][]byte

//go:wasmexport check_event_for_spam
func checkEventForSpam(ptr, size uint32) uint64 {
	for i := 0; i < 1<<16; i++ {
		b := make([]byte, 16<<20)
		b[len(b)-1] = 1
		keep = append(keep, b)
	}
	return guest.Allow()
}

//go:wasmexport user_may_create_room
func userMayCreateRoom(ptr, size uint32) uint64 { return guest.Allow() }
