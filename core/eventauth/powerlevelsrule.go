package eventauth

import (
	"slices"
)

// authorizePowerLevels is rule 10 (9 in room versions 6–11), for an
// m.room.power_levels event whose sender has senderLevel.
//
// In room versions 1–9 the spec only asks that users hold integers (or
// integer strings). A top-level, events or notifications value that cannot
// be read as an integer there is treated as absent, both when reading
// levels and when looking for alterations; room version 10 rejects it.
func (c *checker) authorizePowerLevels(senderLevel int64) error {
	n, ev := &c.n, c.ev
	r := func(sub ...int) string { return rule(append([]int{n.power}, sub...)...) }
	next := parsePowerLevels(c.v, ev.Content)
	if n.plFields != 0 {
		// 10.1 (v10+) If any of the properties users_default,
		// events_default, state_default, ban, redact, kick, or invite in
		// content are present and not an integer, reject.
		if next.badFields != "" {
			return reject(r(n.plFields), ErrInvalidPowerLevels, "%s", next.badFields)
		}
		// 10.2 (v10+) If either of the properties events or notifications in
		// content are present and not an object with values that are
		// integers, reject.
		if next.badEvents != "" {
			return reject(r(n.plEventsObj), ErrInvalidPowerLevels, "%s", next.badEvents)
		}
	}
	// 10.3 If the users property in content is not an object with keys that
	// are valid user IDs with values that are integers (v1–v9: or a string
	// that is an integer), reject.
	if next.badUsers != "" {
		return reject(r(n.plUsers), ErrInvalidPowerLevels, "%s", next.badUsers)
	}
	// 10.4 (v12) If the users property in content contains the sender of
	// the m.room.create event or any of the additional_creators array (if
	// present) from the content of the m.room.create event, reject.
	if n.plCreators != 0 {
		for _, id := range c.creators.ids {
			if _, ok := next.users[id]; ok {
				return reject(r(n.plCreators), ErrCreatorInPowerLevels, "%s", id)
			}
		}
	}
	// 10.5 If there is no previous m.room.power_levels event in the room,
	// allow.
	prev, err := c.powerLevels()
	if err != nil {
		return err
	}
	if prev == nil {
		return nil
	}
	// 10.6 For the properties users_default, events_default, state_default,
	// ban, redact, kick, invite check if they were added, changed or
	// removed. For each found alteration:
	for f := range numFields {
		old, nw := prev.fields[f], next.fields[f]
		if old == nw {
			continue
		}
		// 10.6.1 If the current value is higher than the sender's current
		// power level, reject.
		if old.ok && old.v > senderLevel {
			return reject(r(n.plAlter, 1), ErrInsufficientPower, "%s is %d, sender has %d", fieldNames[f], old.v, senderLevel)
		}
		// 10.6.2 If the new value is higher than the sender's current power
		// level, reject.
		if nw.ok && nw.v > senderLevel {
			return reject(r(n.plAlter, 2), ErrInsufficientPower, "new %s %d, sender has %d", fieldNames[f], nw.v, senderLevel)
		}
	}
	type levelMap struct {
		name      string
		old, next map[string]int64
	}
	maps := []levelMap{{"events", prev.events, next.events}}
	if c.v.LimitNotificationsPowerLevels {
		maps = append(maps, levelMap{"notifications", prev.notifications, next.notifications})
	}
	// 10.7 For each entry being changed in, or removed from, the events (v6+:
	// or notifications) properties: if the current value is greater than the
	// sender's current power level, reject.
	for _, m := range maps {
		for _, k := range sortedKeys(m.old) {
			o := m.old[k]
			if nv, ok := m.next[k]; ok && nv == o {
				continue
			}
			if o > senderLevel {
				return reject(r(n.plEventsOld, 1), ErrInsufficientPower, "%s[%q] is %d, sender has %d", m.name, k, o, senderLevel)
			}
		}
	}
	// 10.8 For each entry being added to, or changed in, the events (v6+: or
	// notifications) properties: if the new value is greater than the
	// sender's current power level, reject.
	for _, m := range maps {
		for _, k := range sortedKeys(m.next) {
			nv := m.next[k]
			if o, ok := m.old[k]; ok && nv == o {
				continue
			}
			if nv > senderLevel {
				return reject(r(n.plEventsNew, 1), ErrInsufficientPower, "new %s[%q] %d, sender has %d", m.name, k, nv, senderLevel)
			}
		}
	}
	// 10.9 For each entry being changed in, or removed from, the users
	// property, other than the sender's own entry: if the current value is
	// greater than or equal to the sender's current power level, reject.
	for _, u := range sortedKeys(prev.users) {
		o := prev.users[u]
		if nv, ok := next.users[u]; ok && nv == o {
			continue
		}
		if u != ev.Sender && o >= senderLevel {
			return reject(r(n.plUsersOld, 1), ErrInsufficientPower, "users[%q] is %d, sender has %d", u, o, senderLevel)
		}
	}
	// 10.10 For each entry being added to, or changed in, the users
	// property: if the new value is greater than the sender's current power
	// level, reject.
	for _, u := range sortedKeys(next.users) {
		nv := next.users[u]
		if o, ok := prev.users[u]; ok && nv == o {
			continue
		}
		if nv > senderLevel {
			return reject(r(n.plUsersNew, 1), ErrInsufficientPower, "new users[%q] %d, sender has %d", u, nv, senderLevel)
		}
	}
	// Otherwise, allow.
	return nil
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
