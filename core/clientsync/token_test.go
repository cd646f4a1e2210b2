package clientsync

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []Token{
		{},
		{Events: 1},
		{Events: 72595, ToDevice: 4483, DeviceLists: 1934, AccountData: 7, Receipts: 12, Typing: 3, Presence: 9},
		{Events: 1<<63 - 1, Presence: 1<<63 - 1},
	} {
		s := tok.String()
		got, err := ParseToken(s)
		if err != nil {
			t.Errorf("ParseToken(%q): %v", s, err)
			continue
		}
		if got != tok {
			t.Errorf("ParseToken(%q) = %+v, want %+v", s, got, tok)
		}
	}
}

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Token
		ok   bool
	}{
		{"s5", Token{Events: 5}, true},
		{"s5_6", Token{Events: 5, ToDevice: 6}, true},
		{"s0_0_0_0_0_0_0", Token{}, true},
		{"", Token{}, false},
		{"s", Token{}, false},
		{"5_6", Token{}, false},
		{"s5_", Token{}, false},
		{"s_5", Token{}, false},
		{"s-5", Token{}, false},
		{"s+5", Token{}, false},
		{"s05", Token{}, false},
		{"s5_6_7_8_9_10_11_12", Token{}, false},
		{"s99999999999999999999", Token{}, false},
		{"t5_6", Token{}, false},
		{"s1 ", Token{}, false},
	} {
		got, err := ParseToken(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ParseToken(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, core.ErrInvalidParam) {
			t.Errorf("ParseToken(%q) error = %v, want M_INVALID_PARAM", tc.in, err)
		}
		if tc.ok && got != tc.want {
			t.Errorf("ParseToken(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestTokenAfter(t *testing.T) {
	a := Token{Events: 5, Typing: 2}
	for _, tc := range []struct {
		b    Token
		want bool
	}{
		{Token{Events: 5, Typing: 2}, false},
		{Token{Events: 6, Typing: 2}, true},
		{Token{Events: 4, Typing: 3}, true},
		{Token{Events: 4, Typing: 1}, false},
	} {
		if got := tc.b.After(a); got != tc.want {
			t.Errorf("%v.After(%v) = %v, want %v", tc.b, a, got, tc.want)
		}
	}
}

func TestParsePageToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PageToken
		ok   bool
	}{
		{"t12_34", TopologicalPage(core.TopologicalToken{Depth: 12, Stream: 34}), true},
		{"t12_-34", TopologicalPage(core.TopologicalToken{Depth: 12, Stream: -34}), true},
		{"t-9223372036854775808_-9223372036854775808", TopologicalPage(core.TopologicalStart), true},
		{"t9223372036854775807_9223372036854775807", TopologicalPage(core.TopologicalEnd), true},
		{"s7_1_2", PageToken{Stream: 7}, true},
		{"t12", PageToken{}, false},
		{"t12_", PageToken{}, false},
		{"t_3", PageToken{}, false},
		{"t-0_3", PageToken{}, false},
		{"t1_2_3", PageToken{}, false},
		{"x", PageToken{}, false},
		{"", PageToken{}, false},
	} {
		got, err := ParsePageToken(tc.in)
		if tc.ok != (err == nil) {
			t.Errorf("ParsePageToken(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParsePageToken(%q) (-want +got):\n%s", tc.in, diff)
		}
		if tc.want.Topological && got.String() != tc.in {
			t.Errorf("ParsePageToken(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestAtStream(t *testing.T) {
	before, after := AtStream(&core.StoredEvent{Depth: 4, StreamOrdering: 9})
	if want := (core.TopologicalToken{Depth: 4, Stream: 10}); before != want {
		t.Errorf("before = %v, want %v", before, want)
	}
	if want := (core.TopologicalToken{Depth: 4, Stream: 9}); after != want {
		t.Errorf("after = %v, want %v", after, want)
	}
	// The event itself is read backward from before and forward from
	// before its position, and not from after.
	at := core.TopologicalToken{Depth: 4, Stream: 9}
	if !at.Less(before) || at.Less(after) || after.Less(at) {
		t.Errorf("bounds %v, %v do not bracket %v", before, after, at)
	}
	before, after = AtStream(nil)
	if before != core.TopologicalStart || after != core.TopologicalStart {
		t.Errorf("AtStream(nil) = %v, %v, want the start", before, after)
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"s1", "s1_2_3_4_5_6_7", "t1_2", "t-1_-2", "s", "", "s01", "t9223372036854775808_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tok, err := ParseToken(s); err == nil {
			again, err := ParseToken(tok.String())
			if err != nil || again != tok {
				t.Fatalf("ParseToken(%q) = %v; its String %q parses to %v, %v", s, tok, tok.String(), again, err)
			}
		}
		if p, err := ParsePageToken(s); err == nil {
			again, err := ParsePageToken(p.String())
			if err != nil || again != p {
				t.Fatalf("ParsePageToken(%q) = %v; its String %q parses to %v, %v", s, p, p.String(), again, err)
			}
			if p.Topological && p.String() != s {
				t.Fatalf("ParsePageToken(%q).String() = %q: two spellings of one token", s, p.String())
			}
		}
	})
}
