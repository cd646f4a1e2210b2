package eventauth

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// CreatorPowerLevel is the power level of a room creator in room versions
// with privileged creators (12): higher than any level an
// m.room.power_levels event can give.
const CreatorPowerLevel int64 = math.MaxInt64

// The top-level integer properties of m.room.power_levels, in the order the
// rule on changing them lists them, with their defaults (server-server API,
// "Definitions"; m.room.power_levels schema).
const (
	fieldUsersDefault = iota
	fieldEventsDefault
	fieldStateDefault
	fieldBan
	fieldRedact
	fieldKick
	fieldInvite
	numFields
)

var (
	fieldNames    = [numFields]string{"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}
	fieldDefaults = [numFields]int64{0, 0, 50, 50, 50, 50, 0}
)

type optLevel struct {
	v  int64
	ok bool
}

// powerLevels is a parsed m.room.power_levels content. Unreadable values
// are left out (so they take their defaults) and reported in the problem
// fields, which only the m.room.power_levels rule looks at.
type powerLevels struct {
	fields        [numFields]optLevel
	users         map[string]int64
	events        map[string]int64
	notifications map[string]int64

	badFields, badEvents, badUsers string // first problem found, "" if none
}

// parsePowerLevels reads content with the number formats room version v
// allows: integers always; strings holding an integer in versions 1–9
// (v1-stringy-power-levels); floats, truncated, in versions 1–5
// (v1-floaty-power-levels).
func parsePowerLevels(v *roomversion.Version, content json.RawMessage) *powerLevels {
	pl := &powerLevels{}
	obj, ok := readObject(content)
	if !ok {
		pl.badFields, pl.badUsers = "content is not an object", "content is not an object"
		return pl
	}
	for i, name := range fieldNames {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		if n, ok := parseLevel(v, raw); ok {
			pl.fields[i] = optLevel{n, true}
		} else if pl.badFields == "" {
			pl.badFields = name + " is not an integer"
		}
	}
	pl.events = parseLevelMap(v, obj, "events", &pl.badEvents, false)
	pl.notifications = parseLevelMap(v, obj, "notifications", &pl.badEvents, false)
	pl.users = parseLevelMap(v, obj, "users", &pl.badUsers, true)
	return pl
}

func parseLevelMap(v *roomversion.Version, obj object, key string, problem *string, userKeys bool) map[string]int64 {
	raw, ok := obj[key]
	if !ok {
		return nil
	}
	fail := func(msg string) {
		if *problem == "" {
			*problem = msg
		}
	}
	m, ok := readObject(raw)
	if !ok {
		fail(key + " is not an object")
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, val := range m {
		if userKeys && !validUserID(k) {
			fail(key + ": " + strconv.Quote(k) + " is not a user ID")
			continue
		}
		n, ok := parseLevel(v, val)
		if !ok {
			fail(key + "[" + strconv.Quote(k) + "] is not an integer")
			continue
		}
		out[k] = n
	}
	return out
}

// parseLevel reads one power level value.
func parseLevel(v *roomversion.Version, raw []byte) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	switch c := raw[0]; {
	case c == '"':
		if v.IntegerPowerLevels {
			return 0, false
		}
		s, ok := str(raw)
		if !ok {
			return 0, false
		}
		return parseStringLevel(s)
	case c == '-' || c >= '0' && c <= '9':
		s := string(raw)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
		if v.StrictCanonicalJSON {
			return 0, false
		}
		// Room versions 1–5: exponent applied, then truncated at the
		// decimal point; values outside binary64 are refused.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
		t := math.Trunc(f)
		if t >= math.MaxInt64 || t < math.MinInt64 {
			return 0, false
		}
		return int64(t), true
	}
	return 0, false
}

// parseStringLevel reads a string power level: optional surrounding
// whitespace, an optional single sign, then base-10 digits.
func parseStringLevel(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	digits := s
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

func (pl *powerLevels) field(f int) int64 {
	if pl != nil && pl.fields[f].ok {
		return pl.fields[f].v
	}
	return fieldDefaults[f]
}

// eventLevel is the required power level of an event type.
func (pl *powerLevels) eventLevel(typ string, isState bool) int64 {
	if pl != nil {
		if n, ok := pl.events[typ]; ok {
			return n
		}
	}
	if isState {
		return pl.field(fieldStateDefault)
	}
	return pl.field(fieldEventsDefault)
}

// creators is who created the room, as far as power goes.
type creators struct {
	privileged bool     // room version 12: infinite power
	ids        []string // v12: create sender + additional_creators; earlier: the one creator
}

func (c creators) has(user string) bool {
	for _, id := range c.ids {
		if id == user {
			return true
		}
	}
	return false
}

// roomCreators reads the creators from the create event: content.creator in
// room versions 1–10, the sender from 11, plus additional_creators from 12.
func roomCreators(v *roomversion.Version, create *pdu.PDU) creators {
	c := creators{privileged: v.PrivilegedCreators}
	if create == nil {
		return c
	}
	if !v.ImplicitRoomCreator {
		if s, ok := str(field(create.Content, "creator")); ok {
			c.ids = append(c.ids, s)
		}
		return c
	}
	c.ids = append(c.ids, create.Sender)
	if v.PrivilegedCreators {
		_ = canonicaljson.Elements(field(create.Content, "additional_creators"), func(raw []byte) error {
			if s, ok := str(raw); ok {
				c.ids = append(c.ids, s)
			}
			return nil
		})
	}
	return c
}

// userLevel is a user's power level given the room's power levels (nil if
// there is no m.room.power_levels event) and creators.
func userLevel(pl *powerLevels, c creators, user string) int64 {
	if c.privileged && c.has(user) {
		return CreatorPowerLevel
	}
	if pl == nil {
		// No m.room.power_levels: the creator has 100, everybody else 0.
		if c.has(user) {
			return 100
		}
		return 0
	}
	if n, ok := pl.users[user]; ok {
		return n
	}
	return pl.field(fieldUsersDefault)
}

// UserPowerLevel returns user's power level in a room of version v whose
// state holds plEvent (nil if the room has no m.room.power_levels) and
// create. State resolution uses it to rank senders by the auth events of
// their events.
func UserPowerLevel(v *roomversion.Version, user string, plEvent, create *pdu.PDU) int64 {
	var pl *powerLevels
	if plEvent != nil {
		pl = parsePowerLevels(v, plEvent.Content)
	}
	return userLevel(pl, roomCreators(v, create), user)
}
