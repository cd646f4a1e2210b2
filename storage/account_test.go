package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// testPasswordParams make argon2id cheap in tests.
var testPasswordParams = PasswordParams{Memory: 64, Time: 1, Threads: 1}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustAccountStore returns an account store on a fresh database, with a
// settable clock.
func mustAccountStore(tb testing.TB) (*AccountStore, *testClock) {
	tb.Helper()
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	return NewAccountStore(mustOpen(tb), AccountOptions{Password: testPasswordParams, Now: clock.Now}), clock
}

func mustCreateAccount(tb testing.TB, s *AccountStore, userID, password string) {
	tb.Helper()
	if _, err := s.CreateAccount(context.Background(), core.NewAccount{UserID: userID, Password: password}); err != nil {
		tb.Fatalf("CreateAccount(%s): %v", userID, err)
	}
}

func TestCreateAccount(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	if has, err := s.HasAccounts(ctx); err != nil || has {
		t.Fatalf("HasAccounts on an empty database = %v, %v; want false", has, err)
	}
	got, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@alice:example.org", Password: "secret", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	want := core.Account{UserID: "@alice:example.org", Admin: true, HasPassword: true, CreatedAt: clock.Now()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateAccount returned (-want +got):\n%s", diff)
	}
	read, err := s.Account(ctx, "@alice:example.org")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("Account (-want +got):\n%s", diff)
	}
	if has, err := s.HasAccounts(ctx); err != nil || !has {
		t.Errorf("HasAccounts = %v, %v; want true", has, err)
	}
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@alice:example.org", Password: "other"}); !errors.Is(err, core.ErrUserInUse) {
		t.Errorf("second CreateAccount: got %v, want M_USER_IN_USE", err)
	}
	if _, err := s.Account(ctx, "@nobody:example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Account(unknown): got %v, want M_NOT_FOUND", err)
	}
	noPass, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@bot:example.org", UserType: "bot"})
	if err != nil || noPass.HasPassword || noPass.UserType != "bot" {
		t.Errorf("CreateAccount without password = %+v, %v", noPass, err)
	}
}

func TestCheckPassword(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "correct horse")
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@nopass:example.org"}); err != nil {
		t.Fatal(err)
	}
	mustCreateAccount(t, s, "@gone:example.org", "pw")
	if err := s.Deactivate(ctx, "@gone:example.org"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		want           *core.Error
	}{
		{"@alice:example.org", "correct horse", nil},
		{"@alice:example.org", "correct horse ", core.ErrForbidden},
		{"@alice:example.org", "", core.ErrForbidden},
		{"@unknown:example.org", "correct horse", core.ErrForbidden},
		{"@nopass:example.org", "", core.ErrForbidden},
		{"@gone:example.org", "pw", core.ErrUserDeactivated},
		// A wrong password says nothing of the deactivation.
		{"@gone:example.org", "not pw", core.ErrForbidden},
		{"@gone:example.org", "", core.ErrForbidden},
	}
	for _, tt := range tests {
		err := s.CheckPassword(ctx, tt.user, tt.password)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckPassword(%q, %q) = %v, want %v", tt.user, tt.password, err, tt.want)
		}
	}
}

func TestSetPassword(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "old")
	keep := mustLogin(t, s, "@alice:example.org", "KEEP")
	drop := mustLogin(t, s, "@alice:example.org", "DROP")
	// Both tokens are cached before the change.
	for _, tok := range []string{keep.AccessToken, drop.AccessToken} {
		if _, err := s.SessionByAccessToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	err := s.SetPassword(ctx, core.PasswordChange{UserID: "@alice:example.org", NewPassword: "new", LogoutDevices: true, KeepDeviceID: "KEEP"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword(ctx, "@alice:example.org", "old"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("old password after change: %v, want M_FORBIDDEN", err)
	}
	if err := s.CheckPassword(ctx, "@alice:example.org", "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := s.SessionByAccessToken(ctx, keep.AccessToken); err != nil {
		t.Errorf("kept device's token: %v", err)
	}
	if _, err := s.SessionByAccessToken(ctx, drop.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("other device's token after password change: %v, want M_UNKNOWN_TOKEN", err)
	}
	if devs, _ := s.Devices(ctx, "@alice:example.org"); len(devs) != 1 || devs[0].DeviceID != "KEEP" {
		t.Errorf("devices after password change = %+v, want KEEP only", devs)
	}
	if err := s.SetPassword(ctx, core.PasswordChange{UserID: "@nobody:example.org", NewPassword: "x"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetPassword(unknown) = %v, want M_NOT_FOUND", err)
	}
	if err := s.SetPassword(ctx, core.PasswordChange{UserID: "@alice:example.org"}); !errors.Is(err, core.ErrMissingParam) {
		t.Errorf("SetPassword(empty) = %v, want M_MISSING_PARAM", err)
	}
}

func TestSetAdminUpdatesCachedSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok := mustLogin(t, s, "@alice:example.org", "")
	for _, admin := range []bool{false, true, false} {
		if err := s.SetAdmin(ctx, "@alice:example.org", admin); err != nil {
			t.Fatal(err)
		}
		sess, err := s.SessionByAccessToken(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if sess.IsAdmin != admin {
			t.Errorf("after SetAdmin(%v): session IsAdmin = %v", admin, sess.IsAdmin)
		}
	}
	if err := s.SetAdmin(ctx, "@nobody:example.org", true); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetAdmin(unknown) = %v, want M_NOT_FOUND", err)
	}
}

func TestDeactivateAndReactivate(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok := mustLogin(t, s, "@alice:example.org", "")
	login, err := s.CreateLoginToken(ctx, "@alice:example.org", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := s.Deactivate(ctx, "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("token after deactivation: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := s.ConsumeLoginToken(ctx, login); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("login token after deactivation: %v, want M_FORBIDDEN", err)
	}
	a, err := s.Account(ctx, "@alice:example.org")
	if err != nil || !a.Deactivated || a.HasPassword {
		t.Errorf("account after deactivation = %+v, %v; want deactivated without password", a, err)
	}
	if _, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org"}); !errors.Is(err, core.ErrUserDeactivated) {
		t.Errorf("IssueTokens for a deactivated user: %v, want M_USER_DEACTIVATED", err)
	}
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@alice:example.org", Password: "x"}); !errors.Is(err, core.ErrUserInUse) {
		t.Errorf("re-registering a deactivated ID: %v, want M_USER_IN_USE", err)
	}
	if err := s.Deactivate(ctx, "@alice:example.org"); err != nil {
		t.Errorf("second Deactivate: %v", err)
	}
	if err := s.Deactivate(ctx, "@nobody:example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Deactivate(unknown) = %v, want M_NOT_FOUND", err)
	}
	if err := s.Reactivate(ctx, "@alice:example.org", ""); !errors.Is(err, core.ErrMissingParam) {
		t.Errorf("Reactivate without password = %v, want M_MISSING_PARAM", err)
	}
	if err := s.Reactivate(ctx, "@alice:example.org", "again"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword(ctx, "@alice:example.org", "again"); err != nil {
		t.Errorf("password after reactivation: %v", err)
	}
	if err := s.Reactivate(ctx, "@nobody:example.org", "x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Reactivate(unknown) = %v, want M_NOT_FOUND", err)
	}
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	for _, u := range []string{"@carol:x.org", "@alice:x.org", "@bob:x.org", "@dave:x.org"} {
		if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: u}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Deactivate(ctx, "@dave:x.org"); err != nil {
		t.Fatal(err)
	}
	ids := func(as []core.Account) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.UserID)
		}
		return out
	}
	tests := []struct {
		q         core.AccountQuery
		want      []string
		wantTotal int
	}{
		{core.AccountQuery{}, []string{"@alice:x.org", "@bob:x.org", "@carol:x.org"}, 3},
		{core.AccountQuery{Deactivated: true}, []string{"@alice:x.org", "@bob:x.org", "@carol:x.org", "@dave:x.org"}, 4},
		{core.AccountQuery{Limit: 2}, []string{"@alice:x.org", "@bob:x.org"}, 3},
		{core.AccountQuery{From: 2, Limit: 2}, []string{"@carol:x.org"}, 3},
		{core.AccountQuery{From: 5}, nil, 3},
		{core.AccountQuery{Contains: "a"}, []string{"@alice:x.org", "@carol:x.org"}, 2},
	}
	for _, tt := range tests {
		got, total, err := s.Accounts(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" || total != tt.wantTotal {
			t.Errorf("Accounts(%+v): total %d (want %d), (-want +got):\n%s", tt.q, total, tt.wantTotal, diff)
		}
	}
}
