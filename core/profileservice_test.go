package core

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
)

// profileMap is a map-backed ProfileStore of one user's fields.
type profileMap map[string]json.RawMessage

func (m profileMap) Profile(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	return m, nil
}

func (m profileMap) SetProfileField(ctx context.Context, userID, key string, value json.RawMessage) error {
	m[key] = value
	return nil
}

func (m profileMap) DeleteProfileField(ctx context.Context, userID, key string) error {
	delete(m, key)
	return nil
}

func TestProfileService(t *testing.T) {
	ctx := context.Background()
	store := profileMap{}
	var calls []string
	var fail error
	s := &ProfileService{Store: store, Logger: slog.New(slog.DiscardHandler),
		Changed: func(_ context.Context, userID, name, avatar string) error {
			calls = append(calls, userID+"|"+name+"|"+avatar)
			return fail
		}}
	const u = "@u:example.org"
	steps := []struct {
		what string
		do   func() error
		code string // errcode wanted, "" for success
		want []string
	}{
		{"display name", func() error { return s.SetField(ctx, u, ProfileDisplayName, json.RawMessage(`"U"`)) }, "", []string{u + "|U|"}},
		{"custom field", func() error { return s.SetField(ctx, u, "org.example.x", json.RawMessage(`{"a":1}`)) }, "", nil},
		{"display name not a string", func() error { return s.SetField(ctx, u, ProfileDisplayName, json.RawMessage(`5`)) }, "M_BAD_JSON", nil},
		{"avatar not mxc", func() error { return s.SetField(ctx, u, ProfileAvatarURL, json.RawMessage(`"https://x"`)) }, "M_INVALID_PARAM", nil},
		{"avatar", func() error { return s.SetField(ctx, u, ProfileAvatarURL, json.RawMessage(`"mxc://example.org/a"`)) }, "", []string{u + "|U|mxc://example.org/a"}},
		{"delete custom", func() error { return s.DeleteField(ctx, u, "org.example.x") }, "", nil},
		{"admin names", func() error { n, a := "V", ""; return s.SetNames(ctx, u, &n, &a) }, "", []string{u + "|V|"}},
		{"admin nothing", func() error { return s.SetNames(ctx, u, nil, nil) }, "", nil},
	}
	for _, st := range steps {
		calls = nil
		err := st.do()
		var me *Error
		switch {
		case st.code == "" && err != nil:
			t.Errorf("%s: %v", st.what, err)
		case st.code != "" && (!errors.As(err, &me) || me.ErrCode != st.code):
			t.Errorf("%s: error %v, want %s", st.what, err, st.code)
		}
		if !slices.Equal(calls, st.want) {
			t.Errorf("%s: member event updates %v, want %v", st.what, calls, st.want)
		}
	}
	if _, ok := store["org.example.x"]; ok || string(store[ProfileDisplayName]) != `"V"` || store[ProfileAvatarURL] != nil {
		t.Errorf("profile = %s", store)
	}
	// Rooms that cannot be updated do not fail the change: it is saved.
	fail = errors.New("room on fire")
	if err := s.DeleteField(ctx, u, ProfileDisplayName); err != nil || store[ProfileDisplayName] != nil {
		t.Errorf("delete with failing rooms: %v, profile %s", err, store)
	}
}
