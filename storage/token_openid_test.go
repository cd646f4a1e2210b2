package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

// TestOpenIDTokens: a token names its user until it expires, and an
// expired one is gone once the next token is issued.
func TestOpenIDTokens(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok, err := s.CreateOpenIDToken(ctx, "@alice:example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // not single-use
		if user, err := s.OpenIDTokenUser(ctx, tok); err != nil || user != "@alice:example.org" {
			t.Fatalf("OpenIDTokenUser = %q, %v", user, err)
		}
	}
	if _, err := s.OpenIDTokenUser(ctx, "hot_nope"); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("unknown token: %v, want M_UNKNOWN_TOKEN", err)
	}
	clock.Advance(time.Hour)
	if _, err := s.OpenIDTokenUser(ctx, tok); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("expired token: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := s.CreateOpenIDToken(ctx, "@alice:example.org", time.Hour); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.db.Read(ctx, func(q Queryer) error {
		return q.QueryRowContext(ctx, "SELECT count(*) FROM open_id_tokens").Scan(&left)
	}); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Errorf("%d tokens stored after the first expired and a second was issued, want 1", left)
	}
}
