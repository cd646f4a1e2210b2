package eventauth

import (
	"encoding/json"
)

// memberContent is the part of m.room.member content the rules read. A
// RawMessage field is nil when the property is absent.
type memberContent struct {
	Membership       json.RawMessage `json:"membership"`
	ThirdPartyInvite json.RawMessage `json:"third_party_invite"`
	Authoriser       json.RawMessage `json:"join_authorised_via_users_server"`
}

// authorizeMember is rule 5 (4 in room versions 6–11).
func (c *checker) authorizeMember() error {
	n, ev := &c.n, c.ev
	var mc memberContent
	_ = json.Unmarshal(ev.Content, &mc)
	// 5.1 If there is no state_key property, or no membership property in
	// content, reject.
	if ev.StateKey == nil || mc.Membership == nil {
		return reject(rule(n.member, 1), ErrMemberMalformed, "")
	}
	target := *ev.StateKey
	// 5.2 (v8+) If content has a join_authorised_via_users_server key: if
	// the event is not validly signed by the homeserver of the user ID
	// denoted by the key, reject.
	var authoriser string
	if n.memAuthoriser != 0 && mc.Authoriser != nil {
		if json.Unmarshal(mc.Authoriser, &authoriser) != nil || !validUserID(authoriser) {
			return reject(rule(n.member, n.memAuthoriser, 1), ErrNotSignedByAuthoriser, "join_authorised_via_users_server %s is not a user ID", mc.Authoriser)
		}
		if !c.signedBy(domainOf(authoriser)) {
			return reject(rule(n.member, n.memAuthoriser, 1), ErrNotSignedByAuthoriser, "no signature of %s", domainOf(authoriser))
		}
	}
	var membership string
	if json.Unmarshal(mc.Membership, &membership) != nil {
		membership = ""
	}
	switch {
	case membership == MembershipJoin:
		return c.authorizeJoin(target, authoriser)
	case membership == MembershipInvite:
		return c.authorizeInvite(target, mc.ThirdPartyInvite)
	case membership == MembershipLeave:
		return c.authorizeLeave(target)
	case membership == MembershipBan:
		return c.authorizeBan(target)
	case membership == MembershipKnock && n.memKnock != 0:
		return c.authorizeKnock(target)
	}
	// Otherwise, the membership is unknown. Reject.
	return reject(rule(n.member, n.memUnknown), ErrUnknownMembership, "membership %s", mc.Membership)
}

func (c *checker) signedBy(server string) bool {
	if c.opts.SignedBy != nil {
		return c.opts.SignedBy(c.ev, server)
	}
	return len(c.ev.Signatures[server]) > 0
}

// authorizeJoin is rule 5.3 (5.2 before room version 8).
func (c *checker) authorizeJoin(target, authoriser string) error {
	n, ev, v := &c.n, c.ev, c.v
	r := func(sub ...int) string { return rule(append([]int{n.member, n.memJoin}, sub...)...) }
	// 5.3.1 If the only previous event is an m.room.create and the
	// state_key is the creator (v11+: the sender of the m.room.create),
	// allow.
	if len(ev.PrevEvents) == 1 && ev.PrevEvents[0] == c.create.EventID {
		creator := c.create.Sender
		if !v.ImplicitRoomCreator {
			creator = contentString(c.create.Content, "creator")
		}
		if target == creator {
			return nil
		}
	}
	// 5.3.2 If the sender does not match state_key, reject.
	if ev.Sender != target {
		return reject(r(2), ErrSenderNotTarget, "%s joining %s", ev.Sender, target)
	}
	current, err := c.membership(target)
	if err != nil {
		return err
	}
	// 5.3.3 If the sender is banned, reject.
	if current == MembershipBan {
		return reject(r(3), ErrBanned, "%s", target)
	}
	joinRule, err := c.joinRule()
	if err != nil {
		return err
	}
	// 5.3.4 If the join_rule is invite (v7+: or knock) then allow if
	// membership state is invite or join.
	if joinRule == JoinRuleInvite || (v.Knock && joinRule == JoinRuleKnock) {
		if current == MembershipInvite || current == MembershipJoin {
			return nil
		}
		return reject(r(n.joinOtherwise), ErrJoinNotAllowed, "join rule %q and membership %q", joinRule, current)
	}
	// 5.3.5 (v8+) If the join_rule is restricted (v10+: or
	// knock_restricted):
	if v.Restricted && (joinRule == JoinRuleRestricted || (v.KnockRestricted && joinRule == JoinRuleKnockRestricted)) {
		// 5.3.5.1 If membership state is join or invite, allow.
		if current == MembershipJoin || current == MembershipInvite {
			return nil
		}
		// 5.3.5.2 If the join_authorised_via_users_server key in content is
		// not a user with sufficient permission to invite other users or is
		// not a joined member of the room, reject.
		if authoriser == "" {
			return reject(r(n.joinRestricted, 2), ErrAuthoriserNotAllowed, "no join_authorised_via_users_server")
		}
		am, err := c.membership(authoriser)
		if err != nil {
			return err
		}
		if am != MembershipJoin {
			return reject(r(n.joinRestricted, 2), ErrAuthoriserNotAllowed, "%s is not joined", authoriser)
		}
		pl, err := c.powerLevels()
		if err != nil {
			return err
		}
		if lvl := userLevel(pl, c.creators, authoriser); lvl < pl.field(fieldInvite) {
			return reject(r(n.joinRestricted, 2), ErrAuthoriserNotAllowed, "%s has level %d < invite level %d", authoriser, lvl, pl.field(fieldInvite))
		}
		// 5.3.5.3 Otherwise, allow.
		return nil
	}
	// 5.3.6 If the join_rule is public, allow.
	if joinRule == JoinRulePublic {
		return nil
	}
	// 5.3.7 Otherwise, reject.
	return reject(r(n.joinOtherwise), ErrJoinNotAllowed, "join rule %q", joinRule)
}

// authorizeInvite is rule 5.4 (5.3 before room version 8).
func (c *checker) authorizeInvite(target string, thirdParty json.RawMessage) error {
	n, ev := &c.n, c.ev
	r := func(sub ...int) string { return rule(append([]int{n.member, n.memInvite}, sub...)...) }
	// 5.4.1 If content has a third_party_invite property: ...
	if thirdParty != nil {
		return c.authorizeThirdPartyInvite(target, thirdParty)
	}
	// 5.4.2 If the sender's current membership state is not join, reject.
	sm, err := c.membership(ev.Sender)
	if err != nil {
		return err
	}
	if sm != MembershipJoin {
		return reject(r(2), ErrSenderNotJoined, "membership of %s is %q", ev.Sender, sm)
	}
	// 5.4.3 If target user's current membership state is join or ban,
	// reject.
	tm, err := c.membership(target)
	if err != nil {
		return err
	}
	if tm == MembershipJoin || tm == MembershipBan {
		return reject(r(3), ErrTargetJoinedOrBanned, "membership of %s is %q", target, tm)
	}
	// 5.4.4 If the sender's power level is greater than or equal to the
	// invite level, allow.
	pl, err := c.powerLevels()
	if err != nil {
		return err
	}
	lvl := userLevel(pl, c.creators, ev.Sender)
	if lvl >= pl.field(fieldInvite) {
		return nil
	}
	// 5.4.5 Otherwise, reject.
	return reject(r(5), ErrInsufficientPower, "level %d < invite level %d", lvl, pl.field(fieldInvite))
}

// authorizeThirdPartyInvite is rule 5.4.1.
func (c *checker) authorizeThirdPartyInvite(target string, raw json.RawMessage) error {
	n, ev := &c.n, c.ev
	r := func(sub int) string { return rule(n.member, n.memInvite, 1, sub) }
	// 5.4.1.1 If target user is banned, reject.
	tm, err := c.membership(target)
	if err != nil {
		return err
	}
	if tm == MembershipBan {
		return reject(r(1), ErrBanned, "%s", target)
	}
	// 5.4.1.2 If content.third_party_invite does not have a signed
	// property, reject.
	var tpi struct {
		Signed json.RawMessage `json:"signed"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &tpi) != nil || len(tpi.Signed) == 0 || tpi.Signed[0] != '{' {
		return reject(r(2), ErrThirdPartyInviteInvalid, "no signed object")
	}
	// 5.4.1.3 If signed does not have mxid and token properties, reject.
	var signed struct {
		MXID  *string `json:"mxid"`
		Token *string `json:"token"`
	}
	if json.Unmarshal(tpi.Signed, &signed) != nil || signed.MXID == nil || signed.Token == nil {
		return reject(r(3), ErrThirdPartyInviteInvalid, "signed has no string mxid and token")
	}
	// 5.4.1.4 If mxid does not match state_key, reject.
	if *signed.MXID != target {
		return reject(r(4), ErrThirdPartyInviteInvalid, "mxid %q, state_key %q", *signed.MXID, target)
	}
	// 5.4.1.5 If there is no m.room.third_party_invite event in the current
	// room state with state_key matching token, reject.
	tpe, err := c.get(TypeThirdPartyInvite, *signed.Token)
	if err != nil {
		return err
	}
	if tpe == nil {
		return reject(r(5), ErrThirdPartyInviteInvalid, "no m.room.third_party_invite for token %q", *signed.Token)
	}
	// 5.4.1.6 If sender does not match sender of the
	// m.room.third_party_invite, reject.
	if ev.Sender != tpe.Sender {
		return reject(r(6), ErrThirdPartyInviteInvalid, "invite from %s, third-party invite from %s", ev.Sender, tpe.Sender)
	}
	// 5.4.1.7 If any signature in signed matches any public key in the
	// m.room.third_party_invite event, allow. The public keys are in content
	// of m.room.third_party_invite as: a single public key in the
	// public_key property; a list of public keys in the public_keys
	// property.
	verify := c.opts.ThirdPartySigned
	if verify == nil {
		verify = verifyThirdPartySigned
	}
	for _, key := range thirdPartyKeys(tpe.Content) {
		if verify(tpi.Signed, key) {
			return nil
		}
	}
	// 5.4.1.8 Otherwise, reject.
	return reject(r(8), ErrThirdPartySignature, "")
}

// thirdPartyKeys lists the public keys of an m.room.third_party_invite.
func thirdPartyKeys(content json.RawMessage) []string {
	var tp struct {
		PublicKey  json.RawMessage   `json:"public_key"`
		PublicKeys []json.RawMessage `json:"public_keys"`
	}
	if json.Unmarshal(content, &tp) != nil {
		// public_keys of the wrong shape: keep public_key if it parses.
		var only struct {
			PublicKey json.RawMessage `json:"public_key"`
		}
		_ = json.Unmarshal(content, &only)
		tp.PublicKey, tp.PublicKeys = only.PublicKey, nil
	}
	var keys []string
	var s string
	if json.Unmarshal(tp.PublicKey, &s) == nil && s != "" {
		keys = append(keys, s)
	}
	for _, raw := range tp.PublicKeys {
		var pk struct {
			PublicKey string `json:"public_key"`
		}
		if json.Unmarshal(raw, &pk) == nil && pk.PublicKey != "" {
			keys = append(keys, pk.PublicKey)
		}
	}
	return keys
}

// authorizeLeave is rule 5.5 (5.4 before room version 8).
func (c *checker) authorizeLeave(target string) error {
	n, ev, v := &c.n, c.ev, c.v
	r := func(sub int) string { return rule(n.member, n.memLeave, sub) }
	tm, err := c.membership(target)
	if err != nil {
		return err
	}
	// 5.5.1 If the sender matches state_key, allow if and only if that
	// user's current membership state is invite, join (v7+: or knock).
	if ev.Sender == target {
		if tm == MembershipInvite || tm == MembershipJoin || (v.Knock && tm == MembershipKnock) {
			return nil
		}
		return reject(r(1), ErrLeaveNotAllowed, "membership of %s is %q", target, tm)
	}
	// 5.5.2 If the sender's current membership state is not join, reject.
	sm, err := c.membership(ev.Sender)
	if err != nil {
		return err
	}
	if sm != MembershipJoin {
		return reject(r(2), ErrSenderNotJoined, "membership of %s is %q", ev.Sender, sm)
	}
	pl, err := c.powerLevels()
	if err != nil {
		return err
	}
	senderLevel := userLevel(pl, c.creators, ev.Sender)
	targetLevel := userLevel(pl, c.creators, target)
	// 5.5.3 If the target user's current membership state is ban, and the
	// sender's power level is less than the ban level, reject.
	if tm == MembershipBan && senderLevel < pl.field(fieldBan) {
		return reject(r(3), ErrInsufficientPower, "unban needs %d, sender has %d", pl.field(fieldBan), senderLevel)
	}
	// 5.5.4 If the sender's power level is greater than or equal to the kick
	// level, and the target user's power level is less than the sender's
	// power level, allow.
	if senderLevel >= pl.field(fieldKick) && targetLevel < senderLevel {
		return nil
	}
	// 5.5.5 Otherwise, reject.
	return reject(r(5), ErrInsufficientPower, "kick level %d, sender %d, target %d", pl.field(fieldKick), senderLevel, targetLevel)
}

// authorizeBan is rule 5.6 (5.5 before room version 8).
func (c *checker) authorizeBan(target string) error {
	n, ev := &c.n, c.ev
	r := func(sub int) string { return rule(n.member, n.memBan, sub) }
	// 5.6.1 If the sender's current membership state is not join, reject.
	sm, err := c.membership(ev.Sender)
	if err != nil {
		return err
	}
	if sm != MembershipJoin {
		return reject(r(1), ErrSenderNotJoined, "membership of %s is %q", ev.Sender, sm)
	}
	pl, err := c.powerLevels()
	if err != nil {
		return err
	}
	senderLevel := userLevel(pl, c.creators, ev.Sender)
	targetLevel := userLevel(pl, c.creators, target)
	// 5.6.2 If the sender's power level is greater than or equal to the ban
	// level, and the target user's power level is less than the sender's
	// power level, allow.
	if senderLevel >= pl.field(fieldBan) && targetLevel < senderLevel {
		return nil
	}
	// 5.6.3 Otherwise, reject.
	return reject(r(3), ErrInsufficientPower, "ban level %d, sender %d, target %d", pl.field(fieldBan), senderLevel, targetLevel)
}

// authorizeKnock is rule 5.7 (4.6 in room version 7).
func (c *checker) authorizeKnock(target string) error {
	n, ev, v := &c.n, c.ev, c.v
	r := func(sub int) string { return rule(n.member, n.memKnock, sub) }
	// 5.7.1 If the join_rule is anything other than knock (v10+: or
	// knock_restricted), reject.
	joinRule, err := c.joinRule()
	if err != nil {
		return err
	}
	if joinRule != JoinRuleKnock && !(v.KnockRestricted && joinRule == JoinRuleKnockRestricted) {
		return reject(r(1), ErrKnockNotAllowed, "join rule %q", joinRule)
	}
	// 5.7.2 If sender does not match state_key, reject.
	if ev.Sender != target {
		return reject(r(2), ErrSenderNotTarget, "%s knocking for %s", ev.Sender, target)
	}
	// 5.7.3 If the sender's current membership is not ban, invite, or join,
	// allow.
	sm, err := c.membership(ev.Sender)
	if err != nil {
		return err
	}
	if sm != MembershipBan && sm != MembershipInvite && sm != MembershipJoin {
		return nil
	}
	// 5.7.4 Otherwise, reject.
	return reject(r(4), ErrKnockNotAllowed, "membership of %s is %q", ev.Sender, sm)
}
