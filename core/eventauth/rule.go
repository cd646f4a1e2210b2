package eventauth

import (
	"strconv"
	"strings"

	"hearth.dev/hearth/core/roomversion"
)

// numbering holds the spec's number for each rule in one room version.
// Rules are numbered differently across versions: m.room.aliases (rule 4)
// exists only in versions 1–5, the redaction rule (11) only in 1 and 2,
// version 12 inserts rule 2 (the room ID names the create event), the
// membership rules gained join_authorised_via_users_server in version 8
// and knock in version 7, and the power-levels rule gained type checks in
// version 10 and the creator check in version 12. A zero field means the
// rule does not exist in that version.
type numbering struct {
	create, roomID, authEvents, federate, aliases, member, joined,
	thirdParty, required, userStateKey, power, redaction int

	createCreator, createAdditional int

	aeNoCreate, aeRoomID int

	memAuthoriser, memJoin, memInvite, memLeave, memBan, memKnock, memUnknown int
	joinRestricted, joinPublic, joinOtherwise                                 int

	plFields, plEventsObj, plUsers, plCreators, plNoPrev, plAlter,
	plEventsOld, plEventsNew, plUsersOld, plUsersNew int
}

func numberingFor(v *roomversion.Version) numbering {
	var n numbering
	i := 0
	next := func() int { i++; return i }
	n.create = next()
	if v.RoomIDFromCreateEvent {
		n.roomID = next()
	}
	n.authEvents = next()
	n.federate = next()
	if v.SpecialCasedAliasesAuth {
		n.aliases = next()
	}
	n.member = next()
	n.joined = next()
	n.thirdParty = next()
	n.required = next()
	n.userStateKey = next()
	n.power = next()
	if v.RedactionAuthRule {
		n.redaction = next()
	}

	switch {
	case v.PrivilegedCreators:
		n.createAdditional = 4
	case !v.ImplicitRoomCreator:
		n.createCreator = 4
	}

	if v.RoomIDFromCreateEvent {
		// The v12 list skips from 3.3 to the room_id rule; the published
		// list renders it as 3.4.
		n.aeRoomID = 4
	} else {
		n.aeNoCreate, n.aeRoomID = 4, 5
	}

	j := 2
	if v.Restricted {
		n.memAuthoriser = 2
		j = 3
	}
	n.memJoin, n.memInvite, n.memLeave, n.memBan = j, j+1, j+2, j+3
	k := j + 4
	if v.Knock {
		n.memKnock = k
		k++
	}
	n.memUnknown = k
	if v.Restricted {
		n.joinRestricted, n.joinPublic, n.joinOtherwise = 5, 6, 7
	} else {
		n.joinPublic, n.joinOtherwise = 5, 6
	}

	p := 1
	if v.IntegerPowerLevels {
		n.plFields, n.plEventsObj = 1, 2
		p = 3
	}
	n.plUsers = p
	p++
	if v.PrivilegedCreators {
		n.plCreators = p
		p++
	}
	n.plNoPrev, n.plAlter, n.plEventsOld, n.plEventsNew, n.plUsersOld, n.plUsersNew =
		p, p+1, p+2, p+3, p+4, p+5
	return n
}

// rule joins rule numbers into the spec's dotted form.
func rule(parts ...int) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(p))
	}
	return b.String()
}
