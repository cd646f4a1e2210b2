package roomversion

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTable pins every flag of every version, as read from the room
// version pages of the specification: each flag is true exactly in the
// listed versions.
func TestTable(t *testing.T) {
	tests := []struct {
		flag string
		get  func(*Version) bool
		in   []int
	}{
		{"EventFormat == FormatV1", func(v *Version) bool { return v.EventFormat == FormatV1 }, span(1, 2)},
		{"EventFormat == FormatV3", func(v *Version) bool { return v.EventFormat == FormatV3 }, span(3, 12)},
		{"EventIDs == EventIDLocal", func(v *Version) bool { return v.EventIDs == EventIDLocal }, span(1, 2)},
		{"EventIDs == EventIDBase64", func(v *Version) bool { return v.EventIDs == EventIDBase64 }, span(3, 3)},
		{"EventIDs == EventIDURLSafe", func(v *Version) bool { return v.EventIDs == EventIDURLSafe }, span(4, 12)},
		{"StateRes == StateResV1", func(v *Version) bool { return v.StateRes == StateResV1 }, span(1, 1)},
		{"StateRes == StateResV2", func(v *Version) bool { return v.StateRes == StateResV2 }, span(2, 11)},
		{"StateRes == StateResV21", func(v *Version) bool { return v.StateRes == StateResV21 }, span(12, 12)},
		{"EnforceKeyValidity", func(v *Version) bool { return v.EnforceKeyValidity }, span(5, 12)},
		{"SpecialCasedAliasesAuth", func(v *Version) bool { return v.SpecialCasedAliasesAuth }, span(1, 5)},
		{"RedactionAuthRule", func(v *Version) bool { return v.RedactionAuthRule }, span(1, 2)},
		{"StrictCanonicalJSON", func(v *Version) bool { return v.StrictCanonicalJSON }, span(6, 12)},
		{"LimitNotificationsPowerLevels", func(v *Version) bool { return v.LimitNotificationsPowerLevels }, span(6, 12)},
		{"Knock", func(v *Version) bool { return v.Knock }, span(7, 12)},
		{"Restricted", func(v *Version) bool { return v.Restricted }, span(8, 12)},
		{"RestrictedJoinAuthorisedViaUsersServer", func(v *Version) bool { return v.RestrictedJoinAuthorisedViaUsersServer }, span(9, 12)},
		{"KnockRestricted", func(v *Version) bool { return v.KnockRestricted }, span(10, 12)},
		{"IntegerPowerLevels", func(v *Version) bool { return v.IntegerPowerLevels }, span(10, 12)},
		{"ImplicitRoomCreator", func(v *Version) bool { return v.ImplicitRoomCreator }, span(11, 12)},
		{"UpdatedRedactionRules", func(v *Version) bool { return v.UpdatedRedactionRules }, span(11, 12)},
		{"RedactionKeepsAliases", func(v *Version) bool { return v.RedactionKeepsAliases }, span(1, 5)},
		{"RedactionKeepsAllow", func(v *Version) bool { return v.RedactionKeepsAllow }, span(8, 12)},
		{"RedactsInContent", func(v *Version) bool { return v.RedactsInContent }, span(11, 12)},
		{"RoomIDFromCreateEvent", func(v *Version) bool { return v.RoomIDFromCreateEvent }, span(12, 12)},
		{"PrivilegedCreators", func(v *Version) bool { return v.PrivilegedCreators }, span(12, 12)},
		{"Stability == Stable", func(v *Version) bool { return v.Stability == Stable }, span(1, 12)},
	}
	for _, tc := range tests {
		var got []int
		for i, v := range All() {
			if tc.get(v) {
				got = append(got, i+1)
			}
		}
		if diff := cmp.Diff(tc.in, got); diff != "" {
			t.Errorf("%s holds in versions (-want +got):\n%s", tc.flag, diff)
		}
	}
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestLookup(t *testing.T) {
	for i := 1; i <= 12; i++ {
		id := ID(fmt.Sprint(i))
		v, err := Lookup(id)
		if err != nil || v.ID != id {
			t.Errorf("Lookup(%q) = %v, %v", id, v, err)
		}
	}
	for _, id := range []ID{"", "0", "13", "org.matrix.msc2176", " 1"} {
		if v, err := Lookup(id); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Lookup(%q) = %v, %v; want ErrUnsupported", id, v, err)
		}
	}
	if all := All(); len(all) != 12 || all[0].ID != "1" || all[11].ID != "12" {
		t.Errorf("All() returned %d versions", len(all))
	}
	if _, err := Lookup(Default); err != nil {
		t.Errorf("Default %q unknown: %v", Default, err)
	}
}

// specPage returns the text of a room version page from the copy of the
// specification in testdata, with every {{% rver-fragment %}} replaced by
// the fragment's text and all runs of space folded to one.
func specPage(t *testing.T, name string) (raw, full string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spec", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	raw = string(b)
	full = regexp.MustCompile(`\{\{% rver-fragment name="([^"]+)" %\}\}`).ReplaceAllStringFunc(raw, func(m string) string {
		frag := regexp.MustCompile(`name="([^"]+)"`).FindStringSubmatch(m)[1]
		fb, err := os.ReadFile(filepath.Join("testdata", "spec", "fragments", frag+".md"))
		if err != nil {
			t.Fatalf("%s: fragment %s: %v", name, frag, err)
		}
		return string(fb)
	})
	return raw, strings.Join(strings.Fields(full), " ")
}

// TestAgainstSpecPages checks each flag against a sentence or fragment of
// the room version's page that states it.
func TestAgainstSpecPages(t *testing.T) {
	fragment := func(raw, name string) bool { return strings.Contains(raw, `rver-fragment name="`+name+`"`) }
	_, index := specPage(t, "_index")
	for _, v := range All() {
		raw, full := specPage(t, "v"+string(v.ID))
		has := func(s string) bool { return strings.Contains(full, s) }
		claims := []struct {
			what string
			spec bool
			flag bool
		}{
			{"PDU format of versions 1 and 2 (event_id on the wire)", has(`definitions/pdu_v1"`), v.EventFormat == FormatV1},
			{"event IDs $opaque_id:domain", fragment(raw, "v1-event-ids"), v.EventIDs == EventIDLocal},
			{"event IDs in URL-safe base64", fragment(raw, "v4-event-ids"), v.EventIDs == EventIDURLSafe},
			{"event IDs in standard base64", has("encoded using [Unpadded Base64](/appendices#unpadded-base64), prefixed with `$`"), v.EventIDs == EventIDBase64},
			{"strict canonical JSON", fragment(raw, "v6-canonical-json"), v.StrictCanonicalJSON},
			{"lenient canonical JSON", fragment(raw, "v1-canonical-json"), !v.StrictCanonicalJSON},
			{"signing key validity enforced", fragment(raw, "v5-signing-requirements"), v.EnforceKeyValidity},
			{"state resolution v2", fragment(raw, "v2-state-res"), v.StateRes == StateResV2},
			{"state resolution v2.1", has("largely the same as the algorithm found in [room version 2](/rooms/v2) with the following modifications"), v.StateRes == StateResV21},
			{"m.room.aliases auth rule", has("If type is `m.room.aliases`"), v.SpecialCasedAliasesAuth},
			{"m.room.redaction auth rule", has("If type is `m.room.redaction`"), v.RedactionAuthRule},
			{"notifications in power levels rules", has("`events` or `notifications` properties"), v.LimitNotificationsPowerLevels},
			{"knock membership", has("If `membership` is `knock`"), v.Knock},
			{"restricted join rule", has("If the `join_rule` is `restricted`"), v.Restricted},
			{"knock_restricted join rule", has("`knock_restricted`"), v.KnockRestricted},
			{"string power levels allowed", fragment(raw, "v1-stringy-power-levels"), !v.IntegerPowerLevels},
			{"creator is the create event's sender", has("the `state_key` is the sender of the `m.room.create`"), v.ImplicitRoomCreator},
			{"redaction keeps aliases", has("allows key `aliases`"), v.RedactionKeepsAliases},
			{"redaction keeps join rule allow", has("allows keys `join_rule`, `allow`"), v.RedactionKeepsAllow},
			{"redaction keeps join_authorised_via_users_server", has("allows keys `membership`, `join_authorised_via_users_server`"), v.RestrictedJoinAuthorisedViaUsersServer},
			{"v11 redaction rules", has("allows all keys"), v.UpdatedRedactionRules},
			{"redacts kept in content", has("allows key `redacts`"), v.RedactsInContent},
			{"room ID is the create event's hash", has("If the event has a `room_id`, reject"), v.RoomIDFromCreateEvent},
			{"additional creators", has("`additional_creators`"), v.PrivilegedCreators},
			{"listed as stable", strings.Contains(index, fmt.Sprintf("[Version %s](/rooms/v%s) - **Stable**", v.ID, v.ID)), v.Stability == Stable},
		}
		for _, c := range claims {
			if c.spec != c.flag {
				t.Errorf("room version %s: %s: spec page says %v, table says %v", v.ID, c.what, c.spec, c.flag)
			}
		}
	}
	if !strings.Contains(index, fmt.Sprintf("Servers SHOULD use **room version %s**", Default)) {
		t.Errorf("Default %q is not the version the spec recommends", Default)
	}
}
