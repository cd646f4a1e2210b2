package eventauth

import (
	"encoding/json"
	"testing"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

func version(t *testing.T, id string) *roomversion.Version {
	t.Helper()
	v, err := roomversion.Lookup(roomversion.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		raw     string
		v1      string // want in room version 1 ("x" = unreadable)
		v6, v10 string
	}{
		{`100`, "100", "100", "100"},
		{`-5`, "-5", "-5", "-5"},
		{`"100"`, "100", "100", "x"},
		{`"000100"`, "100", "100", "x"},
		{`"+100"`, "100", "100", "x"},
		{`"-100"`, "-100", "-100", "x"},
		{`" 100 "`, "100", "100", "x"},
		{`" +100 "`, "100", "100", "x"},
		{`"\t-0100\n"`, "-100", "-100", "x"},
		{`"10.5"`, "x", "x", "x"},
		{`"1e2"`, "x", "x", "x"},
		{`""`, "x", "x", "x"},
		{`"+"`, "x", "x", "x"},
		{`"--1"`, "x", "x", "x"},
		{`"+-1"`, "x", "x", "x"},
		{`"1 0"`, "x", "x", "x"},
		{`"0x10"`, "x", "x", "x"},
		{`"99999999999999999999"`, "x", "x", "x"},
		{`5.114698E4`, "51146", "x", "x"},
		{`50.57`, "50", "x", "x"},
		{`-1.5`, "-1", "x", "x"},
		{`1e2`, "100", "x", "x"},
		{`1e400`, "x", "x", "x"},
		{`1e300`, "x", "x", "x"},
		{`99999999999999999999`, "x", "x", "x"},
		{`true`, "x", "x", "x"},
		{`null`, "x", "x", "x"},
		{`{}`, "x", "x", "x"},
		{`[1]`, "x", "x", "x"},
	}
	show := func(n int64, ok bool) string {
		if !ok {
			return "x"
		}
		b, _ := json.Marshal(n)
		return string(b)
	}
	for _, tc := range tests {
		for _, c := range []struct{ vid, want string }{{"1", tc.v1}, {"6", tc.v6}, {"10", tc.v10}} {
			if got := show(parseLevel(version(t, c.vid), json.RawMessage(tc.raw))); got != c.want {
				t.Errorf("parseLevel(v%s, %s) = %s, want %s", c.vid, tc.raw, got, c.want)
			}
		}
	}
}

func TestUserPowerLevel(t *testing.T) {
	create := func(content string) *pdu.PDU {
		return &pdu.PDU{Type: TypeCreate, Sender: "@alice:a.com", Content: json.RawMessage(content)}
	}
	pl := &pdu.PDU{Type: TypePowerLevels, Content: json.RawMessage(`{"users":{"@bob:b.org":"20","@mod:a.com":50},"users_default":5}`)}
	tests := []struct {
		vid, user string
		create    *pdu.PDU
		pl        *pdu.PDU
		want      int64
	}{
		{"1", "@alice:a.com", create(`{"creator":"@alice:a.com"}`), nil, 100},
		{"1", "@bob:b.org", create(`{"creator":"@alice:a.com"}`), nil, 0},
		{"10", "@alice:a.com", create(`{}`), nil, 0}, // v1–v10 read content.creator
		{"11", "@alice:a.com", create(`{}`), nil, 100},
		{"12", "@alice:a.com", create(`{}`), nil, CreatorPowerLevel},
		{"12", "@bob:b.org", create(`{"additional_creators":["@bob:b.org"]}`), pl, CreatorPowerLevel},
		{"11", "@bob:b.org", create(`{"additional_creators":["@bob:b.org"]}`), pl, 5}, // no additional creators before v12; "20" is a string
		{"10", "@bob:b.org", create(`{}`), pl, 5},                                     // string level refused in v10
		{"9", "@bob:b.org", create(`{}`), pl, 20},
		{"9", "@carol:c.net", create(`{}`), pl, 5},
		{"9", "@alice:a.com", create(`{"creator":"@alice:a.com"}`), pl, 5},
	}
	for _, tc := range tests {
		if got := UserPowerLevel(version(t, tc.vid), tc.user, tc.pl, tc.create); got != tc.want {
			t.Errorf("UserPowerLevel(v%s, %s) = %d, want %d", tc.vid, tc.user, got, tc.want)
		}
	}
}

func TestValidUserID(t *testing.T) {
	tests := map[string]bool{
		"@alice:a.com":     true,
		"@:a.com":          true, // historical: empty localpart
		"@Al ice☃:a.com":   true, // historical: any code point but ':' and NUL
		"@a:a.com:8448":    true,
		"@a:[::1]:8448":    true,
		"@a:1.2.3.4":       true,
		"alice:a.com":      false,
		"@alice":           false,
		"@alice:":          false,
		"@al\x00ice:a.com": false,
		"@a:a.com:port":    false,
		"@a:a_b.com":       false,
		"@a:[::1":          false,
		"@a:a.com:1234567": false,
		"@" + string(make([]byte, 300)) + ":a.com": false,
	}
	for id, want := range tests {
		if got := validUserID(id); got != want {
			t.Errorf("validUserID(%q) = %v, want %v", id, got, want)
		}
	}
}
