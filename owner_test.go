package hearth

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"hearth.dev/hearth/core"
)

func openTestHomeserver(t *testing.T) *Homeserver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ServerName = "owner.test"
	cfg.DataDir = t.TempDir()
	hs, err := Open(context.Background(), cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { hs.Close() })
	return hs
}

func TestCreateOwner(t *testing.T) {
	ctx := context.Background()
	hs := openTestHomeserver(t)
	need, err := hs.NeedsOwner(ctx)
	if err != nil || !need {
		t.Fatalf("NeedsOwner on a new homeserver = %v, %v; want true, nil", need, err)
	}

	refused := []struct {
		name, password string
		want           error
	}{
		{"", "pw", core.ErrInvalidUsername},
		{"two words", "pw", core.ErrInvalidUsername},
		{"@me:elsewhere.test", "pw", core.ErrInvalidUsername},
		{"me", "", core.ErrMissingParam},
	}
	for _, tt := range refused {
		if _, err := hs.CreateOwner(ctx, tt.name, tt.password); !errors.Is(err, tt.want) {
			t.Errorf("CreateOwner(%q, %q) error %v, want %v", tt.name, tt.password, err, tt.want)
		}
	}
	if need, _ := hs.NeedsOwner(ctx); !need {
		t.Fatalf("a refused CreateOwner created an account")
	}

	user, err := hs.CreateOwner(ctx, "@Me:owner.test", "secret")
	if err != nil {
		t.Fatalf("CreateOwner: %v", err)
	}
	if user != "@me:owner.test" {
		t.Errorf("CreateOwner returned %q, want @me:owner.test", user)
	}
	accounts := hs.services.Accounts
	acct, err := accounts.Account(ctx, user)
	if err != nil {
		t.Fatalf("Account(%s): %v", user, err)
	}
	if !acct.Admin || !acct.HasPassword {
		t.Errorf("owner account admin=%v password=%v; want an admin with a password", acct.Admin, acct.HasPassword)
	}
	if err := accounts.CheckPassword(ctx, user, "secret"); err != nil {
		t.Errorf("CheckPassword with the owner's password: %v", err)
	}
	if need, _ := hs.NeedsOwner(ctx); need {
		t.Errorf("NeedsOwner after CreateOwner = true")
	}
	if _, err := hs.CreateOwner(ctx, "other", "pw"); !errors.Is(err, ErrHasOwner) {
		t.Errorf("second CreateOwner error %v, want ErrHasOwner", err)
	}
}
