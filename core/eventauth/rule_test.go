package eventauth_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
)

// ruleCase breaks (or keeps) one authorisation rule. want maps each room
// version the case runs in to the rule number that must reject the event,
// or "" if the event must be allowed. The numbers are written out from the
// spec's text for each version, independently of the package's numbering.
type ruleCase struct {
	name  string
	room  func(t testing.TB, vid string) *testRoom // default newRoom
	setup func(r *testRoom)
	event func(r *testRoom) *pdu.PDU
	want  map[string]string
}

const (
	typeMessage = "m.room.message"
	typeName    = "m.room.name"
	typeTopic   = "m.room.topic"
)

func member(r *testRoom, sender, target, content string, opts ...eventOpt) *pdu.PDU {
	r.t.Helper()
	return r.state_(eventauth.TypeMember, sender, target, content, opts...)
}

func powerLevelsEvent(r *testRoom, sender, content string) *pdu.PDU {
	r.t.Helper()
	return r.state_(eventauth.TypePowerLevels, sender, "", content)
}

// plContent builds power levels content: users entries (alice's 100 is
// added before v12) and the other properties.
func plContent(r *testRoom, users, rest string) string {
	if !r.v.PrivilegedCreators {
		if users == "" {
			users = fmt.Sprintf(`%q:100`, alice)
		} else {
			users = fmt.Sprintf(`%q:100,`, alice) + users
		}
	}
	if rest != "" {
		rest = "," + rest
	}
	return `{"users":{` + users + `}` + rest + `}`
}

// stdRest is the non-user part of newRoom's power levels.
const stdRest = `"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":50},"events_default":0,"state_default":50,"ban":50,"kick":50,"redact":50,"invite":0`

func modUsers() string { return fmt.Sprintf(`%q:50`, mod) }

func tpInviteState(r *testRoom, sender, token, content string) {
	r.t.Helper()
	r.put(r.state_(eventauth.TypeThirdPartyInvite, sender, token, content))
}

func tpContent(r *testRoom, target, signed string) string {
	return fmt.Sprintf(`{"membership":"invite","third_party_invite":{"display_name":"c","signed":%s}}`, signed)
}

// ruleCases is every case, in the order of the rules.
var ruleCases = concatCases(createCases, memberCases, powerCases)

func concatCases(parts ...[]ruleCase) []ruleCase {
	var out []ruleCase
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func emptyRoomOnly(t testing.TB, vid string) *testRoom { return emptyRoom(t, vid) }

func tpSetup(r *testRoom) {
	tpInviteState(r, alice, "tok", fmt.Sprintf(`{"display_name":"c","public_key":%q}`, tpPub))
}

func TestAuthorizeRules(t *testing.T) {
	for _, tc := range ruleCases {
		versions := make([]string, 0, len(tc.want))
		for v := range tc.want {
			versions = append(versions, v)
		}
		sort.Slice(versions, func(i, j int) bool {
			return len(versions[i]) < len(versions[j]) || len(versions[i]) == len(versions[j]) && versions[i] < versions[j]
		})
		for _, vid := range versions {
			t.Run(tc.name+"/v"+vid, func(t *testing.T) {
				room := tc.room
				if room == nil {
					room = newRoom
				}
				r := room(t, vid)
				if tc.setup != nil {
					tc.setup(r)
				}
				ev := tc.event(r)
				err := eventauth.Authorize(r.v, ev, r.state.Lookup, testOptions)
				if got, want := ruleOf(t, err), tc.want[vid]; got != want {
					t.Errorf("Authorize() = %v, want rule %q", err, want)
				}
				if err != nil && !errors.Is(err, eventauth.ErrUnauthorized) {
					t.Errorf("errors.Is(%v, ErrUnauthorized) = false", err)
				}
			})
		}
	}
}

// rejectingRules lists, per room version, every rule of the spec that can
// reject an event, written out from rooms/v*.md. Rules that allow "if and
// only if" are listed under their own number; "allow if … otherwise fall
// through" rules under the "Otherwise, reject" that follows.
var rejectingRules = map[string][]string{
	"1-2": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2", "5.1",
		"5.2.2", "5.2.3", "5.2.6",
		"5.3.1.1", "5.3.1.2", "5.3.1.3", "5.3.1.4", "5.3.1.5", "5.3.1.6", "5.3.1.8", "5.3.2", "5.3.3", "5.3.5",
		"5.4.1", "5.4.2", "5.4.3", "5.4.5", "5.5.1", "5.5.3", "5.6",
		"6", "7.1", "8", "9", "10.1", "10.3.1", "10.3.2", "10.4.1", "10.5.1", "10.6.1", "10.7.1", "11.3"},
	"3-5": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2", "5.1",
		"5.2.2", "5.2.3", "5.2.6",
		"5.3.1.1", "5.3.1.2", "5.3.1.3", "5.3.1.4", "5.3.1.5", "5.3.1.6", "5.3.1.8", "5.3.2", "5.3.3", "5.3.5",
		"5.4.1", "5.4.2", "5.4.3", "5.4.5", "5.5.1", "5.5.3", "5.6",
		"6", "7.1", "8", "9", "10.1", "10.3.1", "10.3.2", "10.4.1", "10.5.1", "10.6.1", "10.7.1"},
	"6": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1",
		"4.2.2", "4.2.3", "4.2.6",
		"4.3.1.1", "4.3.1.2", "4.3.1.3", "4.3.1.4", "4.3.1.5", "4.3.1.6", "4.3.1.8", "4.3.2", "4.3.3", "4.3.5",
		"4.4.1", "4.4.2", "4.4.3", "4.4.5", "4.5.1", "4.5.3", "4.6",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"7": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1",
		"4.2.2", "4.2.3", "4.2.6",
		"4.3.1.1", "4.3.1.2", "4.3.1.3", "4.3.1.4", "4.3.1.5", "4.3.1.6", "4.3.1.8", "4.3.2", "4.3.3", "4.3.5",
		"4.4.1", "4.4.2", "4.4.3", "4.4.5", "4.5.1", "4.5.3", "4.6.1", "4.6.2", "4.6.4", "4.7",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"8-9": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.3.1", "9.3.2", "9.4.1", "9.5.1", "9.6.1", "9.7.1"},
	"10": {"1.1", "1.2", "1.3", "1.4", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.2", "9.3", "9.5.1", "9.5.2", "9.6.1", "9.7.1", "9.8.1", "9.9.1"},
	"11": {"1.1", "1.2", "1.3", "2.4", "3", "4.1", "4.2.1",
		"4.3.2", "4.3.3", "4.3.5.2", "4.3.7",
		"4.4.1.1", "4.4.1.2", "4.4.1.3", "4.4.1.4", "4.4.1.5", "4.4.1.6", "4.4.1.8", "4.4.2", "4.4.3", "4.4.5",
		"4.5.1", "4.5.2", "4.5.3", "4.5.5", "4.6.1", "4.6.3", "4.7.1", "4.7.2", "4.7.4", "4.8",
		"5", "6.1", "7", "8", "9.1", "9.2", "9.3", "9.5.1", "9.5.2", "9.6.1", "9.7.1", "9.8.1", "9.9.1"},
	"12": {"1.1", "1.2", "1.3", "1.4", "2", "4", "5.1", "5.2.1",
		"5.3.2", "5.3.3", "5.3.5.2", "5.3.7",
		"5.4.1.1", "5.4.1.2", "5.4.1.3", "5.4.1.4", "5.4.1.5", "5.4.1.6", "5.4.1.8", "5.4.2", "5.4.3", "5.4.5",
		"5.5.1", "5.5.2", "5.5.3", "5.5.5", "5.6.1", "5.6.3", "5.7.1", "5.7.2", "5.7.4", "5.8",
		"6", "7.1", "8", "9", "10.1", "10.2", "10.3", "10.4", "10.6.1", "10.6.2", "10.7.1", "10.8.1", "10.9.1", "10.10.1"},
}

// TestEveryRuleBroken checks that every rejecting rule of every room version
// is broken by at least one case of TestAuthorizeRules (rules on the
// auth_events list are covered by TestCheckAuthEvents).
func TestEveryRuleBroken(t *testing.T) {
	tested := map[string]map[string]bool{}
	for _, tc := range ruleCases {
		for v, rule := range tc.want {
			if tested[v] == nil {
				tested[v] = map[string]bool{}
			}
			tested[v][rule] = true
		}
	}
	for span, rules := range rejectingRules {
		for _, v := range versionsIn(span) {
			var missing []string
			for _, rule := range rules {
				if strings := tested[v]; !strings[rule] {
					missing = append(missing, rule)
				}
			}
			if len(missing) > 0 {
				t.Errorf("room version %s: no case breaks rules %v", v, missing)
			}
			for rule := range tested[v] {
				if rule != "" && !slices.Contains(rules, rule) {
					t.Errorf("room version %s: a case expects rule %q, which the spec does not list", v, rule)
				}
			}
		}
	}
}
