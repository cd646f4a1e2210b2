// Package clientsync assembles what the client-server API's /sync and timeline
// reads return: the sync token that carries one position per stream, the
// pagination tokens of /messages, the filter model of the filter API and
// its application to events, the lazy-loading selection of room members,
// the state a room section carries, and the response of /sync itself,
// built by Builder from the stores it is given.
//
// The package does no I/O of its own: everything it reads comes through
// the interfaces and functions its callers pass in, and every method a
// request reaches takes a context first.
//
// Importing the package has no side effects.
package clientsync

import (
	"math"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
)

// Token is a /sync position: how far the client has read each stream.
// Every field is a position in its own stream (0 before anything), and a
// token is only ever compared field by field with another.
type Token struct {
	// Events is the stream ordering of room events (messages, state,
	// memberships, invites and knocks alike).
	Events int64
	// ToDevice is the position in the to-device message stream.
	ToDevice int64
	// DeviceLists is the position in the device list change stream.
	DeviceLists int64
	// AccountData is the position in the account data stream (global and
	// per room, tags included).
	AccountData int64
	// Receipts is the position in the read receipt stream.
	Receipts int64
	// Typing is the position in the typing notification stream.
	Typing int64
	// Presence is the position in the presence stream.
	Presence int64
}

// tokenFields lists a Token's fields in their order in the string form.
func (t *Token) tokenFields() []*int64 {
	return []*int64{&t.Events, &t.ToDevice, &t.DeviceLists, &t.AccountData, &t.Receipts, &t.Typing, &t.Presence}
}

// String returns the token's wire form: "s" and the positions joined by
// "_", for example "s72595_4483_1934_0_12_3_0".
func (t Token) String() string {
	b := make([]byte, 0, 48)
	b = append(b, 's')
	for i, f := range t.tokenFields() {
		if i > 0 {
			b = append(b, '_')
		}
		b = strconv.AppendInt(b, *f, 10)
	}
	return string(b)
}

// After reports whether any position of t is past u's.
func (t Token) After(u Token) bool {
	tf, uf := t.tokenFields(), u.tokenFields()
	for i := range tf {
		if *tf[i] > *uf[i] {
			return true
		}
	}
	return false
}

// ErrInvalidToken is the error for a token the server did not give out.
var ErrInvalidToken = core.ErrInvalidParam.WithMessage("Invalid pagination or sync token")

// ParseToken reads a sync token. Tokens from a version of the server with
// fewer streams parse with the missing positions at 0. Anything else that
// is not a token String gave out returns ErrInvalidToken.
func ParseToken(s string) (Token, error) {
	var t Token
	rest, ok := strings.CutPrefix(s, "s")
	if !ok || rest == "" {
		return t, ErrInvalidToken
	}
	fields := t.tokenFields()
	parts := strings.Split(rest, "_")
	if len(parts) > len(fields) {
		return t, ErrInvalidToken
	}
	for i, p := range parts {
		n, err := parseNonNegative(p)
		if err != nil {
			return Token{}, ErrInvalidToken
		}
		*fields[i] = n
	}
	return t, nil
}

// parseNonNegative reads a decimal number of digits only (no sign, no
// leading zeros but for 0 itself).
func parseNonNegative(s string) (int64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// parseSigned reads a decimal number with an optional leading '-'.
func parseSigned(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 1 && s[0] == '0' || neg && s == "0" {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	if neg {
		return strconv.ParseInt("-"+s, 10, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}

// PageToken is a position in one room's timeline, as /messages, /context,
// /relations and the prev_batch of /sync give them out. It is either a
// topological position (depth, stream ordering), "t<depth>_<stream>", or
// a /sync token, whose event stream position stands for the point of the
// room's timeline that stream position had reached.
type PageToken struct {
	// Topological is set for a "t" token.
	Topological bool
	// Topo is the position of a "t" token.
	Topo core.TopologicalToken
	// Stream is the event stream position of a sync token.
	Stream int64
}

// TopologicalPage returns the page token of position p.
func TopologicalPage(p core.TopologicalToken) PageToken {
	return PageToken{Topological: true, Topo: p}
}

// String returns the token's wire form.
func (p PageToken) String() string {
	if !p.Topological {
		return Token{Events: p.Stream}.String()
	}
	b := make([]byte, 0, 32)
	b = append(b, 't')
	b = strconv.AppendInt(b, p.Topo.Depth, 10)
	b = append(b, '_')
	b = strconv.AppendInt(b, p.Topo.Stream, 10)
	return string(b)
}

// ParsePageToken reads a pagination token: a "t" token or any sync token.
// It returns ErrInvalidToken for anything else.
func ParsePageToken(s string) (PageToken, error) {
	if rest, ok := strings.CutPrefix(s, "t"); ok {
		d, st, ok := strings.Cut(rest, "_")
		if !ok {
			return PageToken{}, ErrInvalidToken
		}
		depth, err1 := parseSigned(d)
		stream, err2 := parseSigned(st)
		if err1 != nil || err2 != nil {
			return PageToken{}, ErrInvalidToken
		}
		return TopologicalPage(core.TopologicalToken{Depth: depth, Stream: stream}), nil
	}
	t, err := ParseToken(s)
	if err != nil {
		return PageToken{}, err
	}
	return PageToken{Stream: t.Events}, nil
}

// AtStream returns the topological bounds that stand for stream position
// stream in a room whose newest event at or before stream is last (nil
// when the room had no event by then). Reading backward from before
// returns that event and what precedes it; reading forward from after
// returns what follows it.
func AtStream(last *core.StoredEvent) (before, after core.TopologicalToken) {
	if last == nil {
		return core.TopologicalStart, core.TopologicalStart
	}
	at := core.TopologicalToken{Depth: last.Depth, Stream: last.StreamOrdering}
	before = at
	if at.Stream < math.MaxInt64 {
		before.Stream++
	}
	return before, at
}

// EventPage returns the page token at event ev: reading backward from it
// returns the events before ev, forward the events after it.
func EventPage(ev *core.StoredEvent) PageToken {
	return TopologicalPage(core.TopologicalToken{Depth: ev.Depth, Stream: ev.StreamOrdering})
}

// ParseDirection reads the dir query parameter ("b" or "f"); def is used
// when s is empty.
func ParseDirection(s string, def core.Direction) (core.Direction, error) {
	switch s {
	case "":
		return def, nil
	case "b":
		return core.Backward, nil
	case "f":
		return core.Forward, nil
	}
	return def, core.ErrInvalidParam.WithMessage("dir must be b or f, not %q", s)
}
