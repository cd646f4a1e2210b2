package core

import (
	"iter"
	"slices"
	"sort"
	"strings"
)

// roomListChunk is how many memberships a RoomList chunk holds at most
// after a split: a change copies one chunk and the chunk index, not the
// whole list.
const roomListChunk = 128

// roomEntry is one room of a RoomList: a RoomMembership without the user
// ID, which is the list's. Its membership is one of the spec's constants
// whenever it can be (internMembership), so a list of thousands of rooms
// does not hold thousands of copies of "join". 56 bytes against
// RoomMembership's 72: a change copies a chunk of these, and a list keeps
// one per room for as long as the server runs.
type roomEntry struct {
	roomID, eventID, membership string
	stream                      int64
}

func (e roomEntry) membershipOf(userID string) RoomMembership {
	return RoomMembership{RoomID: e.roomID, UserID: userID, Membership: e.membership, EventID: e.eventID, StreamOrdering: e.stream}
}

func entryOf(m RoomMembership) roomEntry {
	return roomEntry{roomID: m.RoomID, eventID: m.EventID, membership: internMembership(m.Membership), stream: m.StreamOrdering}
}

// internMembership returns the constant for a membership the spec names,
// else s.
func internMembership(s string) string {
	for _, c := range [...]string{MembershipJoin, MembershipLeave, MembershipInvite, MembershipBan, MembershipKnock} {
		if s == c {
			return c
		}
	}
	return s
}

// RoomList is a read-only view of a local user's memberships, one per
// room, in room ID order. A list never changes once made: a change of
// membership makes a new list (With, Without) that shares all but one
// chunk with the old one, so a reader holds a consistent list without
// copying it, and a user in thousands of rooms who joins one more costs
// a copy of about roomListChunk entries. The zero value and nil are empty
// lists. A list holds one user's memberships: it takes the user ID of the
// first membership it is given.
type RoomList struct {
	userID string
	chunks [][]roomEntry // each sorted and non-empty; in order
	n      int
}

// NewRoomList makes a list of ms, which must be sorted by room ID with one
// membership per room; the list copies what it keeps of them.
func NewRoomList(ms []RoomMembership) *RoomList {
	l := &RoomList{n: len(ms)}
	if len(ms) > 0 {
		l.userID = ms[0].UserID
	}
	es := make([]roomEntry, len(ms))
	for i, m := range ms {
		es[i] = entryOf(m)
	}
	for len(es) > 0 {
		k := min(len(es), roomListChunk)
		l.chunks = append(l.chunks, es[:k:k])
		es = es[k:]
	}
	return l
}

// Len returns the number of rooms in l.
func (l *RoomList) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// find returns the chunk where roomID is or would go, and its index in
// that chunk; ok reports whether it is there.
func (l *RoomList) find(roomID string) (chunk, i int, ok bool) {
	// The last chunk whose first room is <= roomID (the first chunk when
	// roomID goes before all).
	chunk = max(0, sort.Search(len(l.chunks), func(c int) bool { return l.chunks[c][0].roomID > roomID })-1)
	i, ok = slices.BinarySearchFunc(l.chunks[chunk], roomID, func(e roomEntry, id string) int {
		return strings.Compare(e.roomID, id)
	})
	return chunk, i, ok
}

// Get returns the membership of roomID, and whether l has one.
func (l *RoomList) Get(roomID string) (RoomMembership, bool) {
	if l.Len() == 0 {
		return RoomMembership{}, false
	}
	c, i, ok := l.find(roomID)
	if !ok {
		return RoomMembership{}, false
	}
	return l.chunks[c][i].membershipOf(l.userID), true
}

// Has reports whether l holds roomID with one of memberships (any
// membership when none is given).
func (l *RoomList) Has(roomID string, memberships ...string) bool {
	m, ok := l.Get(roomID)
	return ok && (len(memberships) == 0 || slices.Contains(memberships, m.Membership))
}

// All yields l's memberships in room ID order.
func (l *RoomList) All() iter.Seq[RoomMembership] {
	return func(yield func(RoomMembership) bool) {
		if l == nil {
			return
		}
		for _, c := range l.chunks {
			for _, e := range c {
				if !yield(e.membershipOf(l.userID)) {
					return
				}
			}
		}
	}
}

// Select returns a new slice of l's memberships with one of memberships
// (all of them when none is given), in room ID order.
func (l *RoomList) Select(memberships ...string) []RoomMembership {
	var out []RoomMembership
	for m := range l.All() {
		if len(memberships) == 0 || slices.Contains(memberships, m.Membership) {
			out = append(out, m)
		}
	}
	return out
}

// With returns a list that is l with m as the membership of m.RoomID
// (added or replacing the one l has). l is unchanged.
func (l *RoomList) With(m RoomMembership) *RoomList {
	e := entryOf(m)
	if l.Len() == 0 {
		return &RoomList{userID: m.UserID, chunks: [][]roomEntry{{e}}, n: 1}
	}
	c, i, ok := l.find(m.RoomID)
	old := l.chunks[c]
	var chunk []roomEntry
	n := l.n
	if ok {
		chunk = slices.Clone(old)
		chunk[i] = e
	} else {
		chunk = make([]roomEntry, 0, len(old)+1)
		chunk = append(append(append(chunk, old[:i]...), e), old[i:]...)
		n++
	}
	chunks := make([][]roomEntry, 0, len(l.chunks)+1)
	chunks = append(chunks, l.chunks[:c]...)
	if len(chunk) > 2*roomListChunk {
		h := len(chunk) / 2
		chunks = append(chunks, chunk[:h:h], chunk[h:])
	} else {
		chunks = append(chunks, chunk)
	}
	chunks = append(chunks, l.chunks[c+1:]...)
	return &RoomList{userID: l.userID, chunks: chunks, n: n}
}

// Without returns a list that is l without roomID. l is unchanged (and
// returned when it lacks roomID).
func (l *RoomList) Without(roomID string) *RoomList {
	if l.Len() == 0 {
		return l
	}
	c, i, ok := l.find(roomID)
	if !ok {
		return l
	}
	old := l.chunks[c]
	chunks := make([][]roomEntry, 0, len(l.chunks))
	chunks = append(chunks, l.chunks[:c]...)
	if len(old) > 1 {
		chunk := make([]roomEntry, 0, len(old)-1)
		chunks = append(chunks, append(append(chunk, old[:i]...), old[i+1:]...))
	}
	chunks = append(chunks, l.chunks[c+1:]...)
	return &RoomList{userID: l.userID, chunks: chunks, n: l.n - 1}
}
