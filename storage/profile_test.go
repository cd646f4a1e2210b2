package storage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestProfileFields(t *testing.T) {
	ctx := context.Background()
	s := NewProfileStore(mustOpen(t))
	const u = "@alice:example.org"
	got, err := s.Profile(ctx, u)
	if err != nil || len(got) != 0 {
		t.Fatalf("Profile of a new user = %v, %v; want empty", got, err)
	}
	steps := []struct{ key, value string }{
		{"displayname", `"Alice"`},
		{"avatar_url", `"mxc://example.org/abc"`},
		{"displayname", `"Alice Liddell"`},
		{"org.example.pets", `{"cats":2}`},
	}
	for _, st := range steps {
		if err := s.SetProfileField(ctx, u, st.key, json.RawMessage(st.value)); err != nil {
			t.Fatalf("SetProfileField(%s): %v", st.key, err)
		}
	}
	if err := s.DeleteProfileField(ctx, u, "avatar_url"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProfileField(ctx, u, "never.set"); err != nil {
		t.Fatalf("deleting an absent field: %v", err)
	}
	got, err = s.Profile(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"displayname": json.RawMessage(`"Alice Liddell"`), "org.example.pets": json.RawMessage(`{"cats":2}`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Profile (-want +got):\n%s", diff)
	}
	if name, avatar := core.ProfileNames(got); name != "Alice Liddell" || avatar != "" {
		t.Errorf("ProfileNames = %q, %q", name, avatar)
	}
	if other, _ := s.Profile(ctx, "@bob:example.org"); len(other) != 0 {
		t.Errorf("another user's profile = %v", other)
	}
}

func TestProfileLimits(t *testing.T) {
	ctx := context.Background()
	s := NewProfileStore(mustOpen(t))
	const u = "@alice:example.org"
	wantErrIs(t, "long key", s.SetProfileField(ctx, u, "org.example."+strings.Repeat("k", 250), json.RawMessage(`1`)), core.ErrKeyTooLarge)
	big := json.RawMessage(`"` + strings.Repeat("x", 40000) + `"`)
	if err := s.SetProfileField(ctx, u, "org.example.a", big); err != nil {
		t.Fatalf("40 KB field: %v", err)
	}
	// Replacing the same field is measured without its old value.
	if err := s.SetProfileField(ctx, u, "org.example.a", big); err != nil {
		t.Fatalf("replacing the 40 KB field: %v", err)
	}
	wantErrIs(t, "second 40 KB field", s.SetProfileField(ctx, u, "org.example.b", big), core.ErrProfileTooLarge)
	wantErrIs(t, "bad JSON", s.SetProfileField(ctx, u, "org.example.c", json.RawMessage(`{`)), core.ErrBadJSON)
}
