package stateres_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/stateres"
)

// scenario is a set of forks of a room and the state their resolution must
// give, reasoned out from the algorithm in the spec (see each case).
type scenario struct {
	name string
	// build adds events to d and returns the state sets to resolve and
	// the names of the expected result.
	build func(d *dag) (sets [][]string, want []string)
	// versions the scenario runs in; wantByVersion overrides want.
	versions      []string
	wantByVersion map[string][]string
}

const (
	member      = eventauth.TypeMember
	powerLevels = eventauth.TypePowerLevels
	joinRules   = eventauth.TypeJoinRules
	topic       = "m.room.topic"
)

var v2Versions = []string{"2", "6", "10", "11", "12"}

var scenarios = []scenario{
	{
		// Alice bans bob while bob, at 50, sends power levels. The ban and
		// PB are power events; alice (100 by PA) sorts before bob (50), so
		// the ban is applied first and PB fails: bob is no longer joined.
		// MA (alice's profile) is then applied by mainline order.
		name: "ban vs power levels",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("MA", member, alice, alice, `{"membership":"join","displayname":"A"}`, []string{"CREATE", "IMA", "PA", "IJR"})
			d.add("MB", member, alice, bob, `{"membership":"ban"}`, []string{"CREATE", "IMA", "IMB", "PA"})
			d.add("PB", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMB", "PA"})
			return [][]string{with(initial, "PA", "MA", "MB"), with(initial, "PA", "PB")},
				with(initial, "PA", "MA", "MB")
		},
		versions: v2Versions,
	},
	{
		// Alice makes the room invite-only while dave joins. The join rules
		// are power events and go first; dave's join, ordered by mainline
		// afterwards, then fails against the invite rule.
		name: "join rule evasion",
		build: func(d *dag) ([][]string, []string) {
			d.add("JR", joinRules, alice, "", `{"join_rule":"invite"}`, []string{"CREATE", "IMA", "IPOWER"})
			d.add("MD", member, dave, dave, `{"membership":"join"}`, []string{"CREATE", "IJR", "IPOWER"})
			return [][]string{with(initial, "JR"), with(initial, "MD")}, with(initial, "JR")
		},
		versions: v2Versions,
	},
	{
		// Bob (50 by PA) gives charlie 50 (PB); charlie lowers himself to 0
		// (PC). PB is in the auth difference and the three sort by their
		// auth chain PA, PB, PC; each passes, so PC wins over PA.
		name: "offtopic power levels",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("PB", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 50, charlie: 50}), []string{"CREATE", "IMB", "PA"})
			d.add("PC", powerLevels, charlie, "", d.pl(map[string]int{alice: 100, bob: 50, charlie: 0}), []string{"CREATE", "IMC", "PB"})
			return [][]string{with(initial, "PC"), with(initial, "PA")}, with(initial, "PC")
		},
		versions: v2Versions,
	},
	{
		// One fork: alice sets a topic (T1). The other: T1, then alice gives
		// bob 50 (PA), bob sets a topic (T2), alice bans bob (MB). Power
		// events IPOWER, PA, MB are applied; of the topics, T1 (based on
		// IPOWER, further back on the mainline of PA) goes before T2, and T2
		// fails because bob is banned: the topic stays T1.
		name: "topic reset",
		build: func(d *dag) ([][]string, []string) {
			d.add("T1", topic, alice, "", `{"topic":"one"}`, []string{"CREATE", "IMA", "IPOWER"})
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("T2", topic, bob, "", `{"topic":"two"}`, []string{"CREATE", "IMB", "PA"})
			d.add("MB", member, alice, bob, `{"membership":"ban"}`, []string{"CREATE", "IMA", "IMB", "PA"})
			return [][]string{with(initial, "T1", "PA", "T2", "MB"), with(initial, "T1")},
				with(initial, "T1", "PA", "MB")
		},
		versions: v2Versions,
	},
	{
		// Alice demotes bob (PA2) while bob changes power levels (PB1).
		// Alice has more power by their auth events, so PA2 is applied
		// first and bob, now 0, cannot send PB1.
		name: "concurrent power level changes",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("PB1", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 50, charlie: 50}), []string{"CREATE", "IMB", "PA"})
			d.add("PA2", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 0}), []string{"CREATE", "IMA", "PA"})
			return [][]string{with(initial, "PA", "PB1"), with(initial, "PA", "PA2")}, with(initial, "PA2")
		},
		versions: v2Versions,
	},
	{
		// Two topics under different power levels: T3 is newer by
		// timestamp, but T2 is based on PA, the head of the mainline, so T2
		// is applied last and wins.
		name: "topic conflict by mainline",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("T2", topic, bob, "", `{"topic":"bob"}`, []string{"CREATE", "IMB", "PA"}, ts(1000))
			d.add("T3", topic, alice, "", `{"topic":"alice"}`, []string{"CREATE", "IMA", "IPOWER"}, ts(2000))
			return [][]string{with(initial, "PA", "T2"), with(initial, "T3")}, with(initial, "PA", "T2")
		},
		versions: v2Versions,
	},
	{
		// Same mainline position: the later timestamp is applied last.
		name: "topic conflict by timestamp",
		build: func(d *dag) ([][]string, []string) {
			d.add("TX", topic, alice, "", `{"topic":"late"}`, []string{"CREATE", "IMA", "IPOWER"}, ts(2000))
			d.add("TY", topic, alice, "", `{"topic":"early"}`, []string{"CREATE", "IMA", "IPOWER"}, ts(1000))
			return [][]string{with(initial, "TX"), with(initial, "TY")}, with(initial, "TX")
		},
		versions: v2Versions,
	},
	{
		// Same position and timestamp: the greater event ID is applied last.
		name: "topic conflict by event ID",
		build: func(d *dag) ([][]string, []string) {
			d.add("TB", topic, alice, "", `{"topic":"b"}`, []string{"CREATE", "IMA", "IPOWER"}, ts(1000))
			d.add("TA", topic, alice, "", `{"topic":"a"}`, []string{"CREATE", "IMA", "IPOWER"}, ts(1000))
			return [][]string{with(initial, "TA"), with(initial, "TB")}, with(initial, "TB")
		},
		versions: v2Versions,
	},
	{
		// A key only one fork has is conflicted and must pass the checks:
		// dave joins a public room.
		name: "key missing from one state",
		build: func(d *dag) ([][]string, []string) {
			d.add("MD", member, dave, dave, `{"membership":"join"}`, []string{"CREATE", "IJR", "IPOWER"})
			return [][]string{with(initial, "MD"), initial}, with(initial, "MD")
		},
		versions: v2Versions,
	},
	{
		// Bob (50) kicks charlie (K) in one fork; charlie edits his profile
		// (MC2) in the other, after alice made the room invite-only (JI).
		// Alice's ban of bob (B) is in both forks, so it is unconflicted.
		//
		// v2 starts the iterative checks from the unconflicted state, where
		// bob is already banned: K fails, and MC2 is applied.
		// v2.1 starts from an empty state: K passes on its auth events (bob
		// joined at 50), then MC2 fails, since charlie has left an
		// invite-only room.
		name: "unconflicted ban does not undo an earlier kick (v2.1)",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("JI", joinRules, alice, "", `{"join_rule":"invite"}`, []string{"CREATE", "IMA", "PA"})
			d.add("K", member, bob, charlie, `{"membership":"leave"}`, []string{"CREATE", "IMB", "IMC", "PA"})
			d.add("B", member, alice, bob, `{"membership":"ban"}`, []string{"CREATE", "IMA", "IMB", "PA"})
			d.add("MC2", member, charlie, charlie, `{"membership":"join","displayname":"C"}`, []string{"CREATE", "IMC", "PA", "JI"})
			return [][]string{with(initial, "PA", "JI", "K", "B"), with(initial, "PA", "JI", "B", "MC2")},
				with(initial, "PA", "JI", "B", "MC2")
		},
		versions:      v2Versions,
		wantByVersion: map[string][]string{"12": {"CREATE", "IMA", "IJR", "IMB", "IMC", "IMZ", "PA", "JI", "B", "K"}},
	},
	{
		// Power levels PA → P1 (bob adds charlie) → P2 (alice raises bob to
		// 100) → P3 (bob). One fork holds P1, the other P3; charlie's
		// profile change MC, based on P2, is in both, so P2 is in both auth
		// chains and not in the auth difference.
		//
		// v2 sorts only P1 and P3; with no auth edge between them, P3 (bob
		// at 100) goes first and P1 (bob at 50) is applied over it: bob is
		// reset to 50.
		// v2.1 adds P2, which lies on the auth path from P3 to P1 (the
		// conflicted state subgraph), so the order is P1, P2, P3 and P3
		// wins.
		name: "conflicted state subgraph keeps auth order (v2.1)",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("P1", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 50, charlie: 10}), []string{"CREATE", "IMB", "PA"})
			d.add("P2", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 100, charlie: 10}), []string{"CREATE", "IMA", "P1"})
			d.add("MC", member, charlie, charlie, `{"membership":"join","displayname":"C"}`, []string{"CREATE", "IMC", "P2", "IJR"})
			d.add("P3", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 100, charlie: 20}), []string{"CREATE", "IMB", "P2"})
			return [][]string{with(initial, "P1", "MC"), with(initial, "P3", "MC")}, with(initial, "P1", "MC")
		},
		versions:      v2Versions,
		wantByVersion: map[string][]string{"12": with(initial, "P3", "MC")},
	},
	{
		// An auth event rejected on receipt is not used as a fallback in the
		// iterative checks: dave's join cites a rejected join rules event
		// (JX, public, sent by zara) while neither state has join rules.
		// zara's join is in the auth difference (through JX) and comes back.
		name: "rejected auth events are not used",
		build: func(d *dag) ([][]string, []string) {
			d.add("JX", joinRules, zara, "", `{"join_rule":"public"}`, []string{"CREATE", "IMZ", "IPOWER"}, rejected())
			d.add("MD", member, dave, dave, `{"membership":"join"}`, []string{"CREATE", "JX", "IPOWER"})
			sets := [][]string{{"CREATE", "IMA", "IPOWER", "IMB", "MD"}, {"CREATE", "IMA", "IPOWER", "IMB"}}
			return sets, []string{"CREATE", "IMA", "IPOWER", "IMB", "IMZ"}
		},
		versions: v2Versions,
	},
	{
		// The same without the rejection: JX itself fails (zara is below
		// state_default) but, as dave's auth event, lets his join pass.
		name: "unrejected auth events are used",
		build: func(d *dag) ([][]string, []string) {
			d.add("JX", joinRules, zara, "", `{"join_rule":"public"}`, []string{"CREATE", "IMZ", "IPOWER"})
			d.add("MD", member, dave, dave, `{"membership":"join"}`, []string{"CREATE", "JX", "IPOWER"})
			sets := [][]string{{"CREATE", "IMA", "IPOWER", "IMB", "MD"}, {"CREATE", "IMA", "IPOWER", "IMB"}}
			return sets, []string{"CREATE", "IMA", "IPOWER", "IMB", "IMZ", "MD"}
		},
		versions: v2Versions,
	},
	{
		// No conflict at all: the states are returned as they are.
		name: "identical states",
		build: func(d *dag) ([][]string, []string) {
			return [][]string{initial, initial, initial}, initial
		},
		versions: []string{"1", "2", "10", "12"},
	},
	{
		// Room version 1: conflicting power levels are taken in order of
		// depth; bob's PB (deeper) passes with R holding PA, where bob has 50.
		name: "v1 power levels by depth",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("PB", powerLevels, bob, "", d.pl(map[string]int{alice: 100, bob: 50, charlie: 10}), []string{"CREATE", "IMB", "PA"})
			return [][]string{with(initial, "PA"), with(initial, "PB")}, with(initial, "PB")
		},
		versions: []string{"1"},
	},
	{
		// Room version 1: charlie (0) cannot send power levels, so the
		// deeper PC stops the walk and PA stays.
		name: "v1 power levels stop at the first failure",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("PC", powerLevels, charlie, "", d.pl(map[string]int{alice: 100, charlie: 100}), []string{"CREATE", "IMC", "PA"})
			return [][]string{with(initial, "PA"), with(initial, "PC")}, with(initial, "PA")
		},
		versions: []string{"1"},
	},
	{
		// Room version 1: of two topics the deepest one that passes in R
		// wins; bob's deeper topic fails because R has bob banned.
		name: "v1 topics by depth and auth",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("T1", topic, alice, "", `{"topic":"alice"}`, []string{"CREATE", "IMA", "PA"})
			d.add("T2", topic, bob, "", `{"topic":"bob"}`, []string{"CREATE", "IMB", "PA"}, depth(20))
			d.add("MB", member, alice, bob, `{"membership":"ban"}`, []string{"CREATE", "IMA", "IMB", "PA"})
			return [][]string{with(initial, "PA", "T1", "MB"), with(initial, "PA", "T2")}, with(initial, "PA", "T1", "MB")
		},
		versions: []string{"1"},
	},
	{
		// Room version 1: without the ban, the deeper topic wins.
		name: "v1 topics by depth",
		build: func(d *dag) ([][]string, []string) {
			d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
			d.add("T1", topic, alice, "", `{"topic":"alice"}`, []string{"CREATE", "IMA", "PA"})
			d.add("T2", topic, bob, "", `{"topic":"bob"}`, []string{"CREATE", "IMB", "PA"}, depth(20))
			return [][]string{with(initial, "PA", "T1"), with(initial, "PA", "T2")}, with(initial, "PA", "T2")
		},
		versions: []string{"1"},
	},
	{
		// Room version 1: a key only one state has is not a conflict, even if
		// it would fail the checks.
		name: "v1 missing key is unconflicted",
		build: func(d *dag) ([][]string, []string) {
			d.add("TZ", topic, zara, "", `{"topic":"zara"}`, []string{"CREATE", "IMZ", "IPOWER"})
			return [][]string{with(initial, "TZ"), initial}, with(initial, "TZ")
		},
		versions: []string{"1"},
	},
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		for _, vid := range sc.versions {
			t.Run(fmt.Sprintf("%s/v%s", sc.name, vid), func(t *testing.T) {
				d := newDAG(t, vid)
				setNames, wantNames := sc.build(d)
				if w, ok := sc.wantByVersion[vid]; ok {
					wantNames = w
				}
				var sets []stateres.StateMap
				for _, s := range setNames {
					sets = append(sets, d.state(s...))
				}
				want := d.state(wantNames...)
				// Every order of the state sets gives the same result.
				for _, perm := range permutations(len(sets)) {
					ordered := make([]stateres.StateMap, len(sets))
					for i, p := range perm {
						ordered[i] = sets[p]
					}
					got, err := stateres.Resolve(d.v, ordered, d.fetch, nil)
					if err != nil {
						t.Fatalf("Resolve(order %v): %v", perm, err)
					}
					if diff := cmp.Diff(names(want), names(got)); diff != "" {
						t.Errorf("Resolve(order %v) mismatch (-want +got):\n%s", perm, diff)
					}
				}
			})
		}
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
