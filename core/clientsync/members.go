package clientsync

// Rooms' members as a /sync needs them: summaries, and who joined or left
// for the device list changes.

import (
	"context"
	"encoding/json"
	"slices"

	"hearth.dev/hearth/core"
)

// noteMember records a membership change seen in a room for the device
// list changes.
func (r *syncRun) noteMember(ev *core.StoredEvent) {
	if *ev.StateKey == r.req.Viewer.UserID {
		return
	}
	switch membershipOf(ev) {
	case core.MembershipJoin:
		r.newMembers[*ev.StateKey] = true
	case core.MembershipLeave, core.MembershipBan:
		r.leftMembers[*ev.StateKey] = true
	}
}

// membershipOf returns content.membership of a member event.
func membershipOf(ev *core.StoredEvent) string {
	var c struct {
		Content struct {
			Membership string `json:"membership"`
		} `json:"content"`
	}
	_ = json.Unmarshal(ev.JSON, &c)
	return c.Content.Membership
}

// members returns the current memberships of roomID by user, in stream
// order of their events.
func (s *Service) members(ctx context.Context, roomID string) ([]memberInfo, error) {
	m, err := s.roomsMembers(ctx, []string{roomID})
	return m[roomID], err
}

// roomsMembers returns members' result for each of roomIDs, in one read.
func (s *Service) roomsMembers(ctx context.Context, roomIDs []string) (map[string][]memberInfo, error) {
	rooms, err := s.stores.State.CurrentMembers(ctx, roomIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]memberInfo, len(rooms))
	for id, ms := range rooms {
		list := make([]memberInfo, 0, len(ms))
		for _, m := range ms {
			list = append(list, memberInfo{user: m.UserID, membership: m.Membership, stream: m.StreamOrdering})
		}
		slices.SortFunc(list, func(a, b memberInfo) int {
			if a.stream != b.stream {
				if a.stream < b.stream {
					return -1
				}
				return 1
			}
			if a.user < b.user {
				return -1
			}
			return 1
		})
		out[id] = list
	}
	return out, nil
}

// membersOf returns the members of roomID, read ahead with the chunk's
// rooms sent in full (prefetch) or else on their own.
func (r *syncRun) membersOf(ctx context.Context, roomID string) ([]memberInfo, error) {
	if ms, ok := r.preMembers[roomID]; ok {
		return ms, nil
	}
	return r.s.members(ctx, roomID)
}

type memberInfo struct {
	user       string
	membership string
	stream     int64
}

// summary computes a joined room's summary from its current members.
func (r *syncRun) summary(ctx context.Context, roomID string) (*Summary, error) {
	ms, err := r.membersOf(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var joined, invited int
	var heroes, others []string
	for _, m := range ms {
		switch m.membership {
		case core.MembershipJoin:
			joined++
		case core.MembershipInvite:
			invited++
		}
		if m.user == r.req.Viewer.UserID {
			continue
		}
		if m.membership == core.MembershipJoin || m.membership == core.MembershipInvite {
			heroes = append(heroes, m.user)
		} else if m.membership == core.MembershipLeave || m.membership == core.MembershipBan {
			others = append(others, m.user)
		}
	}
	if len(heroes) == 0 {
		heroes = others
	}
	if len(heroes) > maxHeroes {
		heroes = heroes[:maxHeroes]
	}
	if heroes == nil {
		heroes = []string{}
	}
	return &Summary{Heroes: heroes, JoinedMemberCount: &joined, InvitedMemberCount: &invited}, nil
}

// roomMembers adds roomID's joined members to set.
func (r *syncRun) roomMembers(ctx context.Context, roomID string, set map[string]bool) error {
	ms, err := r.membersOf(ctx, roomID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.membership == core.MembershipJoin && m.user != r.req.Viewer.UserID {
			set[m.user] = true
		}
	}
	return nil
}
