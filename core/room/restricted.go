package room

import (
	"context"
	"encoding/json"
	"sort"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// Restricted rooms (room versions 8+; client-server API "Restricted
// rooms", room version 8 auth rule 4.3.5): a user who is neither joined
// nor invited may join when they meet one of the join rule's allow
// conditions, and a resident server vouches for that by naming one of its
// users who may invite in the join event's join_authorised_via_users_server
// and signing the event.

// allowMembership is the only allow condition type the spec defines.
const allowMembership = "m.room_membership"

// joinRulesContent is the part of m.room.join_rules content a restricted
// join reads.
type joinRulesContent struct {
	JoinRule string `json:"join_rule"`
	Allow    []struct {
		Type   string `json:"type"`
		RoomID string `json:"room_id"`
	} `json:"allow"`
}

// JoinAuthoriser returns the local user to put in userID's join event to
// roomID as join_authorised_via_users_server, or "" when the join needs
// none: the room's version has no restricted join rules, its join rule is
// not restricted (or knock_restricted), or userID is already joined or
// invited. The server signs every event it builds or countersigns, so the
// user it names is one of its own: a joined local member whose power level
// is at least the invite level (the highest level first, then by user ID,
// so that the choice is stable).
//
// It returns M_FORBIDDEN when userID meets none of the allow conditions
// (membership of one of the listed rooms, as this server sees it) and
// M_UNABLE_TO_GRANT_JOIN when no local member may invite (the joining
// server may try another resident server). Both the local join and make_join for a
// remote user (whose joins this server then signs) use it.
func (p *Pipeline) JoinAuthoriser(ctx context.Context, roomID, userID string) (string, error) {
	v, err := p.Version(ctx, roomID)
	if err != nil {
		return "", err
	}
	if !v.Restricted {
		return "", nil
	}
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{
		keyJoinRules.Type: {""}, keyPowerLevels.Type: {""}, keyCreate.Type: {""}, eventauth.TypeMember: nil}})
	if err != nil {
		return "", err
	}
	jrEv, _, err := p.pair(ctx, st[keyJoinRules], "")
	if err != nil {
		return "", err
	}
	var jr joinRulesContent
	if jrEv != nil {
		_ = json.Unmarshal(jrEv.Content, &jr)
	}
	if jr.JoinRule != eventauth.JoinRuleRestricted && (!v.KnockRestricted || jr.JoinRule != eventauth.JoinRuleKnockRestricted) {
		return "", nil
	}
	members := map[string]string{} // user ID -> member event ID
	for k, id := range st {
		if k.Type == eventauth.TypeMember {
			members[k.StateKey] = id
		}
	}
	memberEvs, err := p.pdus(ctx, mapValues(members))
	if err != nil {
		return "", err
	}
	membership := func(u string) string {
		if e := memberEvs[members[u]]; e != nil {
			return contentString(e.Content, "membership")
		}
		return ""
	}
	switch membership(userID) {
	case eventauth.MembershipJoin, eventauth.MembershipInvite:
		return "", nil // rule 4.3.5.1: allowed without an authoriser
	case eventauth.MembershipBan:
		return "", core.ErrForbidden.WithMessage("you are banned from room %s", roomID)
	}
	met := false
	for _, a := range jr.Allow {
		if a.Type != allowMembership || a.RoomID == "" {
			continue
		}
		m, err := p.membershipOf(ctx, a.RoomID, userID)
		if err != nil {
			return "", err
		}
		if m.Membership == eventauth.MembershipJoin {
			met = true
			break
		}
	}
	if !met {
		return "", core.ErrForbidden.WithMessage("room %s is restricted, and you are not a member of any of the rooms that allow joining it", roomID)
	}
	plEv, createEv, err := p.pair(ctx, st[keyPowerLevels], st[keyCreate])
	if err != nil {
		return "", err
	}
	inviteLevel := int64(0)
	if plEv != nil {
		inviteLevel = plLevel(plEv.Content, "invite", 0)
	}
	type candidate struct {
		user  string
		level int64
	}
	var cands []candidate
	for u := range members {
		if !p.isLocal(u) || membership(u) != eventauth.MembershipJoin {
			continue
		}
		if lvl := eventauth.UserPowerLevel(v, u, plEv, createEv); lvl >= inviteLevel {
			cands = append(cands, candidate{u, lvl})
		}
	}
	if len(cands) == 0 {
		return "", core.ErrUnableToGrantJoin.WithMessage("no member of room %s on this server may authorise your join", roomID)
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.level != b.level {
			return a.level > b.level
		}
		return a.user < b.user
	})
	return cands[0].user, nil
}

// mapValues returns the values of m, in no particular order.
func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// countersignJoin adds this server's signature to a remote user's join
// (send_join) whose content names a user of this server in
// join_authorised_via_users_server: the auth rules want the authoriser's
// server's signature, and send_join answers the event with it. A join
// that names no local authoriser is returned as it came (the auth rules
// judge it); one that is not a JSON object is M_BAD_JSON.
func (f *Federation) countersignJoin(v *roomversion.Version, raw json.RawMessage) (json.RawMessage, error) {
	var head struct {
		Content struct {
			Authoriser *string `json:"join_authorised_via_users_server"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, core.ErrBadJSON.WithMessage("the event is not a JSON object: %v", err)
	}
	if head.Content.Authoriser == nil || !f.p.isLocal(*head.Content.Authoriser) {
		return raw, nil
	}
	p := f.p
	signed, err := signing.SignEventJSON(v, raw, p.cfg.ServerName, p.cfg.Key.ID, p.cfg.Key.Private)
	if err != nil {
		return nil, core.ErrBadJSON.WithMessage("the event cannot be signed: %v", err)
	}
	return signed, nil
}
