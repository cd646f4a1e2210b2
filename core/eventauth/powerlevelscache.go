package eventauth

import (
	"bytes"
	"sync"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// plCacheSize bounds the parsed power levels kept: a room's current
// m.room.power_levels is read by the auth check of every event sent in it,
// so a few rooms' worth saves most parses.
const plCacheSize = 64

// plCache keeps parsed m.room.power_levels contents by event ID. An entry
// is used only for the same content bytes and room version (a copy of the
// content is kept and compared), so an event redacted, or an ID reused by a
// forged event, is parsed anew. A parsed powerLevels is never changed after
// parsePowerLevels, so one value is shared by every checker.
var plCache = struct {
	sync.Mutex
	m map[string]plCacheEntry
}{m: make(map[string]plCacheEntry, plCacheSize)}

type plCacheEntry struct {
	v       *roomversion.Version
	content []byte
	pl      *powerLevels
}

// cachedPowerLevels returns e's content parsed as power levels under v.
func cachedPowerLevels(v *roomversion.Version, e *pdu.PDU) *powerLevels {
	if e.EventID == "" {
		return parsePowerLevels(v, e.Content)
	}
	plCache.Lock()
	ent, ok := plCache.m[e.EventID]
	plCache.Unlock()
	if ok && ent.v == v && bytes.Equal(ent.content, e.Content) {
		return ent.pl
	}
	pl := parsePowerLevels(v, e.Content)
	plCache.Lock()
	if len(plCache.m) >= plCacheSize {
		// Full: one entry goes, whichever the map gives first.
		for id := range plCache.m {
			delete(plCache.m, id)
			break
		}
	}
	plCache.m[e.EventID] = plCacheEntry{v: v, content: bytes.Clone(e.Content), pl: pl}
	plCache.Unlock()
	return pl
}
