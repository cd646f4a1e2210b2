package push

import (
	"fmt"
	"runtime"
	"testing"
)

// TestRoomStateKeepsLittle: what a RoomState keeps of a room's create and
// power levels events is their sender and content. The service keeps up
// to maxCachedRooms of them; kept whole, each parsed event held its
// signatures, hashes, references and the canonical JSON its content was
// a slice of. Measured on the heap over 2,000 rooms of signed events as
// rooms are made here.
func TestRoomStateKeepsLittle(t *testing.T) {
	sig := fmt.Sprintf("%086d", 3)
	ev := func(typ, content string, depth int) []byte {
		return []byte(fmt.Sprintf(`{"auth_events":["$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaE","$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbE"],`+
			`"content":%s,"depth":%d,"hashes":{"sha256":"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"},"origin_server_ts":1700000000000,`+
			`"prev_events":["$ppppppppppppppppppppppppppppppppppppppppppE"],"room_id":"!rrrrrrrrrrrrrrrrrr:hearth.test",`+
			`"sender":"@alice:hearth.test","signatures":{"hearth.test":{"ed25519:a_bcde":"%s"}},"state_key":"","type":"%s"}`,
			content, depth, sig, typ))
	}
	state := []StateEvent{
		{"m.room.create", "", ev("m.room.create", `{"room_version":"10","creator":"@alice:hearth.test"}`, 1)},
		{"m.room.power_levels", "", ev("m.room.power_levels", `{"ban":50,"events":{"m.room.avatar":50,"m.room.canonical_alias":50,`+
			`"m.room.encryption":100,"m.room.history_visibility":100,"m.room.name":50,"m.room.power_levels":100,"m.room.server_acl":100,`+
			`"m.room.tombstone":100},"events_default":0,"historical":100,"invite":0,"kick":50,"redact":50,"state_default":50,`+
			`"users":{"@alice:hearth.test":100},"users_default":0}`, 4)},
		{"m.room.member", "@alice:hearth.test", []byte(`{"content":{"membership":"join","displayname":"alice"}}`)},
	}
	const n = 2000
	kept := make([]*RoomState, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range kept {
		rs, err := ReadRoomState("10", state)
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = rs
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := int64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("a RoomState keeps %d bytes", per)
	if per > 2000 {
		t.Errorf("a RoomState keeps %d bytes, want at most 2000 (the events' contents, a member and the struct)", per)
	}
	if got := kept[0].Context("@alice:hearth.test", func(string) bool { return true }).SenderPowerLevel; got != 100 {
		t.Errorf("alice's power level %d, want 100", got)
	}
	runtime.KeepAlive(kept)
}
