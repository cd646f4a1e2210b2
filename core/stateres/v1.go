package stateres

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// resolveV1 is the state resolution of room version 1 (rooms/v1.md). Only
// keys whose states hold different event IDs conflict; a key some states
// lack is not a conflict.
//
// The spec does not say what happens to a non-auth key none of whose events
// pass the checks; like other implementations, the event with the lowest
// depth (then highest sha1) is kept.
func (r *resolver) resolveV1(stateSets []StateMap) (StateMap, error) {
	unconflicted, conflicted := separate(stateSets, false)
	R := copyState(unconflicted)
	if len(conflicted) == 0 {
		return R, nil
	}
	keys := make([]StateKey, 0, len(conflicted))
	for k := range conflicted {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b StateKey) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.StateKey, b.StateKey))
	})
	done := map[StateKey]bool{}
	// First m.room.power_levels, then m.room.join_rules, then each
	// m.room.member key: sort by ascending depth then descending
	// sha1(event_id), add the first to R, then each next one while it
	// passes the authorisation rules in R.
	for _, typ := range []string{eventauth.TypePowerLevels, eventauth.TypeJoinRules, eventauth.TypeMember} {
		for _, k := range keys {
			if k.Type != typ {
				continue
			}
			done[k] = true
			events, err := r.fetchAll(conflicted[k])
			if err != nil {
				return nil, err
			}
			// sort.Slice, not slices.SortFunc: one sorting code for all
			// element types instead of a ~20 KB copy per struct type in the
			// browser build.
			sort.Slice(events, func(i, j int) bool {
				a, b := events[i], events[j]
				return cmp.Or(cmp.Compare(a.ev.Depth, b.ev.Depth), cmp.Compare(b.sha1, a.sha1)) < 0
			})
			R[k] = events[0].ev.EventID
			for _, e := range events[1:] {
				ok, err := r.allowedIn(R, e.ev)
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
				R[k] = e.ev.EventID
			}
		}
	}
	// Every other conflict: the event with the highest depth and lowest
	// sha1(event_id) that passes authentication in R.
	for _, k := range keys {
		if done[k] {
			continue
		}
		events, err := r.fetchAll(conflicted[k])
		if err != nil {
			return nil, err
		}
		sort.Slice(events, func(i, j int) bool {
			a, b := events[i], events[j]
			return cmp.Or(cmp.Compare(b.ev.Depth, a.ev.Depth), cmp.Compare(a.sha1, b.sha1)) < 0
		})
		R[k] = events[len(events)-1].ev.EventID
		for _, e := range events {
			ok, err := r.allowedIn(R, e.ev)
			if err != nil {
				return nil, err
			}
			if ok {
				R[k] = e.ev.EventID
				break
			}
		}
	}
	return R, nil
}

type v1Event struct {
	ev   *pdu.PDU
	sha1 string
}

func (r *resolver) fetchAll(ids []string) ([]v1Event, error) {
	out := make([]v1Event, len(ids))
	for i, id := range ids {
		e, err := r.get(id)
		if err != nil {
			return nil, err
		}
		sum := sha1.Sum([]byte(id))
		out[i] = v1Event{e, hex.EncodeToString(sum[:])}
	}
	return out, nil
}

// allowedIn reports whether e passes the authorisation rules in state R.
func (r *resolver) allowedIn(R StateMap, e *pdu.PDU) (bool, error) {
	lookup := func(k StateKey) (*pdu.PDU, error) {
		id, ok := R[k]
		if !ok {
			return nil, nil
		}
		return r.get(id)
	}
	err := eventauth.Authorize(r.v, e, lookup, r.auth)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, eventauth.ErrUnauthorized):
		return false, nil
	}
	return false, err
}

// membership reads content.membership, "" if absent.
func membership(e *pdu.PDU) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(e.Content, &c)
	return c.Membership
}
