// Package appservice holds application service registrations (the bridges
// and bots the homeserver serves, client-server and application service
// API) and the rules the client-server API applies to them: which service
// an as_token belongs to, which users, aliases and rooms a service's
// namespaces hold, and which of those are exclusive. Loading the YAML
// files and talking to the services is the outbound package appservice's
// work; this package is pure.
//
// Importing the package has no side effects.
package appservice

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth.dev/hearth/core/id"
)

// Namespace is one entry of a registration's users, aliases or rooms list.
// Regex must match the whole ID (it is anchored at both ends).
type Namespace struct {
	Exclusive bool   `yaml:"exclusive" json:"exclusive"`
	Regex     string `yaml:"regex" json:"regex"`

	re matcher
}

// matcher is a compiled namespace regex (regexp_other.go).
type matcher interface{ MatchString(string) bool }

// Match reports whether s is in the namespace. A namespace that was not
// compiled (Registration.Compile) matches nothing.
func (n *Namespace) Match(s string) bool { return n.re != nil && n.re.MatchString(s) }

// Namespaces are a registration's three kinds of namespace.
type Namespaces struct {
	Users   []Namespace `yaml:"users" json:"users"`
	Aliases []Namespace `yaml:"aliases" json:"aliases"`
	Rooms   []Namespace `yaml:"rooms" json:"rooms"`
}

// Registration is an application service's registration, with the fields
// of Synapse's registration files.
type Registration struct {
	ID              string     `yaml:"id"`
	URL             string     `yaml:"url"`
	ASToken         string     `yaml:"as_token"`
	HSToken         string     `yaml:"hs_token"`
	SenderLocalpart string     `yaml:"sender_localpart"`
	Namespaces      Namespaces `yaml:"namespaces"`
	// RateLimited is nil when the file does not say; the spec's default,
	// and so hearth's, is to rate-limit (Synapse's too).
	RateLimited *bool    `yaml:"rate_limited"`
	Protocols   []string `yaml:"protocols"`
	// ReceiveEphemeral asks for typing, receipts and presence (MSC2409,
	// also spelt de.sorunome.msc2409.push_ephemeral).
	ReceiveEphemeral    bool `yaml:"receive_ephemeral"`
	ReceiveEphemeralMSC bool `yaml:"de.sorunome.msc2409.push_ephemeral"`

	// File is where the registration was read from, for errors.
	File string `yaml:"-"`
	// Sender is the service's own user, @sender_localpart:server.
	Sender string `yaml:"-"`
	// server is the homeserver's name (Compile's serverName).
	server string
}

// IsRateLimited says whether the service's requests are rate limited.
func (r *Registration) IsRateLimited() bool { return r.RateLimited == nil || *r.RateLimited }

// WantsEphemeral says whether the service receives typing, receipts and
// presence.
func (r *Registration) WantsEphemeral() bool { return r.ReceiveEphemeral || r.ReceiveEphemeralMSC }

// Compile checks the registration's own fields and compiles its
// namespaces for serverName. Its error names the first problem.
func (r *Registration) Compile(serverName string) error {
	switch {
	case r.ID == "":
		return errors.New("id is missing")
	case r.ASToken == "":
		return errors.New("as_token is missing")
	case r.HSToken == "":
		return errors.New("hs_token is missing")
	case r.ASToken == r.HSToken:
		return errors.New("as_token and hs_token are the same; they must differ")
	case r.SenderLocalpart == "":
		return errors.New("sender_localpart is missing")
	}
	if r.URL != "" && !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") {
		return fmt.Errorf("url %q is not an http:// or https:// URL (leave it empty for a service that receives nothing)", r.URL)
	}
	sender, err := id.NewUserID(r.SenderLocalpart, id.ServerName(serverName))
	if err != nil {
		return fmt.Errorf("sender_localpart %q: %w", r.SenderLocalpart, err)
	}
	r.Sender = string(sender)
	r.server = serverName
	for kind, list := range map[string][]Namespace{"users": r.Namespaces.Users, "aliases": r.Namespaces.Aliases, "rooms": r.Namespaces.Rooms} {
		for i := range list {
			if list[i].Regex == "" {
				return fmt.Errorf("namespaces.%s[%d]: regex is missing", kind, i)
			}
			re, err := compileNamespace(list[i].Regex)
			if err != nil {
				return fmt.Errorf("namespaces.%s[%d]: regex %q: %w", kind, i, list[i].Regex, err)
			}
			list[i].re = re
		}
	}
	return nil
}

// IsUser reports whether userID is the service's sender or in its user
// namespaces.
func (r *Registration) IsUser(userID string) bool {
	return userID == r.Sender || matchAny(r.Namespaces.Users, userID, false)
}

// HasLocalUser reports whether userID is a user of this server that the
// service holds (IsUser). Only local users make a service interested in
// events and rooms: "application services can only register interest in
// local users" (application service API, "Registration").
func (r *Registration) HasLocalUser(userID string) bool {
	return strings.HasSuffix(userID, ":"+r.server) && r.IsUser(userID)
}

// ExclusiveUser reports whether userID is in one of the service's
// exclusive user namespaces (or is its sender).
func (r *Registration) ExclusiveUser(userID string) bool {
	return userID == r.Sender || matchAny(r.Namespaces.Users, userID, true)
}

// IsAlias reports whether alias is in the service's alias namespaces.
func (r *Registration) IsAlias(alias string) bool {
	return matchAny(r.Namespaces.Aliases, alias, false)
}

// ExclusiveAlias reports whether alias is in an exclusive alias namespace.
func (r *Registration) ExclusiveAlias(alias string) bool {
	return matchAny(r.Namespaces.Aliases, alias, true)
}

// IsRoom reports whether roomID is in the service's room namespaces.
func (r *Registration) IsRoom(roomID string) bool { return matchAny(r.Namespaces.Rooms, roomID, false) }

func matchAny(list []Namespace, s string, exclusiveOnly bool) bool {
	for i := range list {
		if (!exclusiveOnly || list[i].Exclusive) && list[i].Match(s) {
			return true
		}
	}
	return false
}

// Set is the homeserver's registered application services.
type Set struct {
	list []*Registration
}

// NewSet compiles regs for serverName and checks them together. The error
// joins one error per bad registration, each naming its file: a missing
// or bad field, a regex that does not compile, an id, as_token or
// hs_token another registration has, or an exclusive namespace that
// overlaps one of another service.
//
// Two exclusive namespaces (of the same kind, of different services)
// overlap when their regexes are the same text, or when one is a literal
// (no metacharacters: one exact ID) that the other matches. Regexes that
// merely might match a common ID are not refused: deciding that in
// general is a regular-language intersection, and Synapse does not refuse
// them either.
func NewSet(serverName string, regs []*Registration) (*Set, error) {
	var errs []error
	bad := func(r *Registration, format string, args ...any) {
		errs = append(errs, fmt.Errorf("application service %s: %s", r.File, fmt.Sprintf(format, args...)))
	}
	ok := make([]*Registration, 0, len(regs))
	for _, r := range regs {
		if err := r.Compile(serverName); err != nil {
			bad(r, "%v", err)
			continue
		}
		ok = append(ok, r)
	}
	good := make([]*Registration, 0, len(ok))
next:
	for i, r := range ok {
		for _, o := range ok[:i] {
			switch {
			case r.ID == o.ID:
				bad(r, "id %q is also the id of %s", r.ID, o.File)
			case r.ASToken == o.ASToken || r.ASToken == o.HSToken:
				bad(r, "its as_token is also a token of %s", o.File)
			case r.HSToken == o.HSToken || r.HSToken == o.ASToken:
				bad(r, "its hs_token is also a token of %s", o.File)
			case r.Sender == o.Sender:
				bad(r, "sender_localpart %q is also the sender of %s", r.SenderLocalpart, o.File)
			default:
				if msg := overlap(r, o); msg != "" {
					bad(r, "%s overlaps an exclusive namespace of %s", msg, o.File)
				} else {
					continue
				}
			}
			continue next
		}
		good = append(good, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Set{list: good}, nil
}

// overlap describes the first exclusive namespace of a that overlaps an
// exclusive namespace of b, or "".
func overlap(a, b *Registration) string {
	kinds := []struct {
		name string
		a, b []Namespace
	}{{"users", a.Namespaces.Users, b.Namespaces.Users},
		{"aliases", a.Namespaces.Aliases, b.Namespaces.Aliases},
		{"rooms", a.Namespaces.Rooms, b.Namespaces.Rooms}}
	for _, k := range kinds {
		for i, x := range k.a {
			for _, y := range k.b {
				if !x.Exclusive || !y.Exclusive {
					continue
				}
				if x.Regex == y.Regex || literalIn(x, y) || literalIn(y, x) {
					return fmt.Sprintf("exclusive namespaces.%s[%d] (%q)", k.name, i, x.Regex)
				}
			}
		}
	}
	// A service's sender is exclusively its own.
	if b.ExclusiveUser(a.Sender) {
		return fmt.Sprintf("its sender %s", a.Sender)
	}
	if a.ExclusiveUser(b.Sender) {
		return "an exclusive user namespace holding the sender " + b.Sender + " and so"
	}
	return ""
}

// literalIn reports whether x's regex is one literal ID that y matches.
func literalIn(x, y Namespace) bool {
	lit, ok := regexpLiteral(x.Regex)
	return ok && y.Match(lit)
}

// All returns the registrations, in the order they were configured.
func (s *Set) All() []*Registration {
	if s == nil {
		return nil
	}
	return slices.Clone(s.list)
}

// ByASToken returns the service whose as_token is token, or nil.
func (s *Set) ByASToken(token string) *Registration {
	if s == nil || token == "" {
		return nil
	}
	for _, r := range s.list {
		if r.ASToken == token {
			return r
		}
	}
	return nil
}

// ByID returns the service with id, or nil.
func (s *Set) ByID(id string) *Registration {
	if s == nil {
		return nil
	}
	for _, r := range s.list {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// ExclusiveUserOwner returns the service that holds userID exclusively,
// or nil.
func (s *Set) ExclusiveUserOwner(userID string) *Registration {
	if s == nil {
		return nil
	}
	for _, r := range s.list {
		if r.ExclusiveUser(userID) {
			return r
		}
	}
	return nil
}

// ExclusiveAliasOwner returns the service that holds alias exclusively,
// or nil.
func (s *Set) ExclusiveAliasOwner(alias string) *Registration {
	if s == nil {
		return nil
	}
	for _, r := range s.list {
		if r.ExclusiveAlias(alias) {
			return r
		}
	}
	return nil
}

// UserQueryTarget returns the services (with a URL) whose user namespaces
// hold userID, which the homeserver asks about a user it does not know.
func (s *Set) UserQueryTarget(userID string) []*Registration {
	var out []*Registration
	for _, r := range s.All() {
		if r.URL != "" && matchAny(r.Namespaces.Users, userID, false) {
			out = append(out, r)
		}
	}
	return out
}

// AliasQueryTarget returns the services (with a URL) whose alias
// namespaces hold alias.
func (s *Set) AliasQueryTarget(alias string) []*Registration {
	var out []*Registration
	for _, r := range s.All() {
		if r.URL != "" && r.IsAlias(alias) {
			out = append(out, r)
		}
	}
	return out
}
