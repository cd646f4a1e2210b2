package storage

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

// mustLogin issues tokens for deviceID (empty: a new device).
func mustLogin(tb testing.TB, s *AccountStore, userID, deviceID string) core.Tokens {
	tb.Helper()
	t, err := s.IssueTokens(context.Background(), core.NewLogin{UserID: userID, DeviceID: deviceID})
	if err != nil {
		tb.Fatalf("IssueTokens(%s, %q): %v", userID, deviceID, err)
	}
	return t
}

// isSoftLogout reports whether err is M_UNKNOWN_TOKEN with soft_logout.
func isSoftLogout(err error) bool {
	var me *core.Error
	return errors.As(err, &me) && me.ErrCode == "M_UNKNOWN_TOKEN" && me.Extra["soft_logout"] == true
}

func TestIssueTokens(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org", DeviceDisplayName: "Phone"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, accessTokenPrefix) || len(tok.AccessToken) != len(accessTokenPrefix)+43 {
		t.Errorf("access token %q: want %s and 43 base64url characters (256 bits)", tok.AccessToken, accessTokenPrefix)
	}
	if tok.RefreshToken != "" || tok.ExpiresIn != 0 {
		t.Errorf("non-refreshable login got refresh token %q, expiry %v", tok.RefreshToken, tok.ExpiresIn)
	}
	if len(tok.DeviceID) != 10 || strings.Trim(tok.DeviceID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Errorf("generated device ID %q: want 10 upper-case letters", tok.DeviceID)
	}
	sess, err := s.SessionByAccessToken(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if sess.UserID != "@alice:example.org" || sess.DeviceID != tok.DeviceID || sess.IsAdmin || sess.TokenID == 0 {
		t.Errorf("session = %+v", sess)
	}
	d, err := s.Device(ctx, "@alice:example.org", tok.DeviceID)
	if err != nil || d.DisplayName != "Phone" {
		t.Errorf("Device = %+v, %v; want display name Phone", d, err)
	}

	// The token is never stored as it is.
	var n int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM access_tokens WHERE token_hash = ? OR CAST(token_hash AS TEXT) = ?",
		tok.AccessToken, tok.AccessToken).Scan(&n); err != nil || n != 0 {
		t.Errorf("access token stored in clear: %d rows, %v", n, err)
	}

	// Logging in again with the same device keeps its name, revokes its
	// earlier token.
	again, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org", DeviceID: tok.DeviceID, DeviceDisplayName: "Ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if again.DeviceID != tok.DeviceID {
		t.Errorf("device reuse: got device %q, want %q", again.DeviceID, tok.DeviceID)
	}
	if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); !errors.Is(err, core.ErrUnknownToken) || isSoftLogout(err) {
		t.Errorf("earlier token of a re-logged-in device: %v, want M_UNKNOWN_TOKEN without soft_logout", err)
	}
	if _, err := s.SessionByAccessToken(ctx, again.AccessToken); err != nil {
		t.Errorf("new token: %v", err)
	}
	if d, _ := s.Device(ctx, "@alice:example.org", tok.DeviceID); d.DisplayName != "Phone" {
		t.Errorf("reused device renamed to %q", d.DisplayName)
	}
	if devs, _ := s.Devices(ctx, "@alice:example.org"); len(devs) != 1 {
		t.Errorf("devices after reuse: %d, want 1", len(devs))
	}

	if _, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@nobody:example.org"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("IssueTokens(unknown user) = %v, want M_NOT_FOUND", err)
	}
	for _, bad := range []string{"", "hat_nothing", tok.AccessToken + "x"} {
		if _, err := s.SessionByAccessToken(ctx, bad); !errors.Is(err, core.ErrUnknownToken) {
			t.Errorf("SessionByAccessToken(%q) = %v, want M_UNKNOWN_TOKEN", bad, err)
		}
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	mustCreateAccount(t, s, "@bob:example.org", "pw")
	a1 := mustLogin(t, s, "@alice:example.org", "")
	a2 := mustLogin(t, s, "@alice:example.org", "")
	a3 := mustLogin(t, s, "@alice:example.org", "")
	b1 := mustLogin(t, s, "@bob:example.org", "")
	for _, tok := range []core.Tokens{a1, a2, a3, b1} {
		if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	sess, _ := s.SessionByAccessToken(ctx, a1.AccessToken)
	if err := s.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByAccessToken(ctx, a1.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("after logout: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := s.Device(ctx, "@alice:example.org", a1.DeviceID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("device after logout: %v, want M_NOT_FOUND", err)
	}
	if _, err := s.SessionByAccessToken(ctx, a2.AccessToken); err != nil {
		t.Errorf("other device after logout: %v", err)
	}
	if err := s.LogoutAll(ctx, "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []core.Tokens{a2, a3} {
		if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
			t.Errorf("after logout all: %v, want M_UNKNOWN_TOKEN", err)
		}
	}
	if devs, _ := s.Devices(ctx, "@alice:example.org"); len(devs) != 0 {
		t.Errorf("devices after logout all: %+v", devs)
	}
	if _, err := s.SessionByAccessToken(ctx, b1.AccessToken); err != nil {
		t.Errorf("another user's token after logout all: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	first, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org", Refreshable: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.RefreshToken, refreshTokenPrefix) || first.ExpiresIn != DefaultAccessTokenLifetime {
		t.Fatalf("refreshable login: refresh %q, expires in %v", first.RefreshToken, first.ExpiresIn)
	}
	if _, err := s.SessionByAccessToken(ctx, first.AccessToken); err != nil {
		t.Fatal(err)
	}

	// Expiry: soft logout, from the cache and from the table.
	clock.Advance(DefaultAccessTokenLifetime)
	if _, err := s.SessionByAccessToken(ctx, first.AccessToken); !isSoftLogout(err) {
		t.Errorf("expired token (cached): %v, want M_UNKNOWN_TOKEN with soft_logout", err)
	}
	if _, err := s.SessionByAccessToken(ctx, first.AccessToken); !isSoftLogout(err) {
		t.Errorf("expired token (uncached): %v, want M_UNKNOWN_TOKEN with soft_logout", err)
	}

	second, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.UserID != "@alice:example.org" || second.DeviceID != first.DeviceID || second.RefreshToken == first.RefreshToken {
		t.Errorf("refresh = %+v", second)
	}
	if _, err := s.SessionByAccessToken(ctx, first.AccessToken); !errors.Is(err, core.ErrUnknownToken) || isSoftLogout(err) {
		t.Errorf("old access token after refresh: %v, want M_UNKNOWN_TOKEN without soft_logout", err)
	}
	// The old refresh token still works until the new tokens are used (the
	// client may have lost the answer); using it again replaces the unused
	// pair.
	third, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("repeating a refresh whose answer was lost: %v", err)
	}
	if _, err := s.SessionByAccessToken(ctx, second.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("replaced unused access token: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := s.Refresh(ctx, second.RefreshToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("replaced unused refresh token: %v, want M_UNKNOWN_TOKEN", err)
	}
	// Using the new access token retires the old refresh token.
	sess, err := s.SessionByAccessToken(ctx, third.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if sess.DeviceID != first.DeviceID {
		t.Errorf("refreshed session on device %q, want %q", sess.DeviceID, first.DeviceID)
	}
	if _, err := s.Refresh(ctx, first.RefreshToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("old refresh token after the new access token was used: %v, want M_UNKNOWN_TOKEN", err)
	}
	// Using the new refresh token directly retires its predecessor too.
	fourth, err := s.Refresh(ctx, third.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	fifth, err := s.Refresh(ctx, fourth.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, third.RefreshToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("refresh token whose successor was used: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := s.SessionByAccessToken(ctx, fifth.AccessToken); err != nil {
		t.Errorf("latest access token: %v", err)
	}
	var rows int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM refresh_tokens").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("refresh_tokens rows after rotation: %d, %v; want 1", rows, err)
	}
	if _, err := s.Refresh(ctx, "hrt_unknown"); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("unknown refresh token: %v, want M_UNKNOWN_TOKEN", err)
	}
	// Logout removes the refresh token with the device.
	if err := s.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, fifth.RefreshToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("refresh token after logout: %v, want M_UNKNOWN_TOKEN", err)
	}
}

func TestLoginTokens(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok, err := s.CreateLoginToken(ctx, "@alice:example.org", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	user, err := s.ConsumeLoginToken(ctx, tok)
	if err != nil || user != "@alice:example.org" {
		t.Fatalf("ConsumeLoginToken = %q, %v", user, err)
	}
	if _, err := s.ConsumeLoginToken(ctx, tok); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("second use of a login token: %v, want M_FORBIDDEN", err)
	}
	expiring, err := s.CreateLoginToken(ctx, "@alice:example.org", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := s.ConsumeLoginToken(ctx, expiring); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("expired login token: %v, want M_FORBIDDEN", err)
	}
	if _, err := s.ConsumeLoginToken(ctx, "hlt_nope"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("unknown login token: %v, want M_FORBIDDEN", err)
	}
}

func TestDeleteDevicesRevokesCachedTokens(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	tok := mustLogin(t, s, "@alice:example.org", "DEV")
	if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevices(ctx, "@alice:example.org", []string{"DEV", "UNKNOWN"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); !errors.Is(err, core.ErrUnknownToken) {
		t.Errorf("token of a deleted device: %v, want M_UNKNOWN_TOKEN", err)
	}
}

func TestSessionCacheBound(t *testing.T) {
	c := newSessionCache(3)
	for i := range 10 {
		c.put([32]byte{byte(i)}, cachedSession{}, c.generation())
	}
	if len(c.entries) != 3 {
		t.Errorf("cache holds %d entries, want at most 3", len(c.entries))
	}
	gen := c.generation()
	c.invalidate(func(*core.Session) bool { return false })
	c.put([32]byte{99}, cachedSession{}, gen)
	if _, ok := c.get([32]byte{99}); ok {
		t.Error("entry looked up before an invalidation was cached after it")
	}
}

func TestRegistrationTokens(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	one := 1
	for _, tok := range []core.RegistrationToken{
		{Token: "unlimited"},
		{Token: "once", UsesAllowed: &one},
		{Token: "expiring", ExpiresAt: clock.Now().Add(time.Hour)},
	} {
		if err := s.CreateRegistrationToken(ctx, tok); err != nil {
			t.Fatalf("CreateRegistrationToken(%s): %v", tok.Token, err)
		}
	}
	for _, bad := range []string{"", "has space", strings.Repeat("a", 65), "unlimited"} {
		if err := s.CreateRegistrationToken(ctx, core.RegistrationToken{Token: bad}); !errors.Is(err, core.ErrInvalidParam) {
			t.Errorf("CreateRegistrationToken(%q) = %v, want M_INVALID_PARAM", bad, err)
		}
	}
	valid := func(tok string) bool {
		t.Helper()
		ok, err := s.RegistrationTokenValid(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for tok, want := range map[string]bool{"unlimited": true, "once": true, "expiring": true, "unknown": false, "bad token": false} {
		if got := valid(tok); got != want {
			t.Errorf("RegistrationTokenValid(%q) = %v, want %v", tok, got, want)
		}
	}

	// A reserved use counts: "once" cannot be reserved twice.
	r, err := s.ReserveRegistrationToken(ctx, "once")
	if err != nil || r.Pending != 1 {
		t.Fatalf("Reserve(once) = %+v, %v", r, err)
	}
	if valid("once") {
		t.Error("token with its only use pending is still valid")
	}
	if _, err := s.ReserveRegistrationToken(ctx, "once"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("second Reserve(once) = %v, want M_FORBIDDEN", err)
	}
	// Giving the use back makes it valid again; completing it uses it up.
	if err := s.ReleaseRegistrationToken(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	if !valid("once") {
		t.Error("released token not valid again")
	}
	if _, err := s.ReserveRegistrationToken(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@a:x.org", RegistrationToken: "once"}); err != nil {
		t.Fatal(err)
	}
	if valid("once") {
		t.Error("used-up token still valid")
	}
	// An account cannot be created on a token with no pending use.
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@b:x.org", RegistrationToken: "unlimited"}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("CreateAccount on an unreserved token = %v, want M_FORBIDDEN", err)
	}
	if _, err := s.Account(ctx, "@b:x.org"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("account created despite refused token: %v", err)
	}

	clock.Advance(time.Hour)
	if valid("expiring") {
		t.Error("expired token still valid")
	}
	if _, err := s.ReserveRegistrationToken(ctx, "expiring"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("Reserve(expired) = %v, want M_FORBIDDEN", err)
	}
	if _, err := s.ReserveRegistrationToken(ctx, "unknown"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("Reserve(unknown) = %v, want M_FORBIDDEN", err)
	}

	// Start clears pending uses left by sessions that died with the
	// process.
	if _, err := s.ReserveRegistrationToken(ctx, "unlimited"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := s.db.Reader().QueryRowContext(ctx, "SELECT sum(pending) FROM registration_tokens").Scan(&pending); err != nil || pending != 0 {
		t.Errorf("pending after Start = %d, %v; want 0", pending, err)
	}
}

func TestSetupToken(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	first, err := s.Start(ctx)
	if err != nil || len(first) < 32 || !validRegistrationToken(first) {
		t.Fatalf("Start on an empty database = %q, %v; want a setup token", first, err)
	}
	second, err := s.Start(ctx)
	if err != nil || second == first {
		t.Fatalf("second Start = %q, %v; want a new token", second, err)
	}
	if ok, _ := s.RegistrationTokenValid(ctx, first); ok {
		t.Error("the setup token of an earlier start is still valid")
	}
	r, err := s.ReserveRegistrationToken(ctx, second)
	if err != nil || !r.Setup {
		t.Fatalf("Reserve(setup) = %+v, %v", r, err)
	}
	a, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@owner:x.org", Password: "pw", RegistrationToken: second})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Admin {
		t.Error("the setup token's registrant is not an admin")
	}
	if ok, _ := s.RegistrationTokenValid(ctx, second); ok {
		t.Error("setup token valid after its one use")
	}
	if tok, err := s.Start(ctx); err != nil || tok != "" {
		t.Errorf("Start with an account = %q, %v; want no setup token", tok, err)
	}
}

func TestSetupTokenInvalidOnceAnAccountExists(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	tok, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.ReserveRegistrationToken(ctx, tok)
	if err != nil || !r.Setup {
		t.Fatal(err)
	}
	// The owner is created another way (hearth user create) meanwhile.
	mustCreateAccount(t, s, "@owner:x.org", "pw")
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@late:x.org", RegistrationToken: tok}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("setup token used after an account exists: %v, want M_FORBIDDEN", err)
	}
	if ok, _ := s.RegistrationTokenValid(ctx, tok); ok {
		t.Error("setup token valid while an account exists")
	}
}

func TestDevices(t *testing.T) {
	ctx := context.Background()
	s, clock := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	mustLogin(t, s, "@alice:example.org", "BBB")
	mustLogin(t, s, "@alice:example.org", "AAA")
	if err := s.SetDeviceDisplayName(ctx, "@alice:example.org", "AAA", "Laptop"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeviceDisplayName(ctx, "@alice:example.org", "ZZZ", "x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("rename unknown device: %v, want M_NOT_FOUND", err)
	}
	if err := s.DeviceSeen(ctx, "@alice:example.org", "AAA", "192.0.2.1", clock.Now()); err != nil {
		t.Fatal(err)
	}
	devs, err := s.Devices(ctx, "@alice:example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].DeviceID != "AAA" || devs[1].DeviceID != "BBB" {
		t.Fatalf("Devices = %+v", devs)
	}
	if d := devs[0]; d.DisplayName != "Laptop" || d.LastSeenIP != "192.0.2.1" || !d.LastSeen.Equal(clock.Now()) {
		t.Errorf("device AAA = %+v", d)
	}
	// A second request soon after from the same address is not written;
	// one from another address is.
	clock.Advance(time.Minute)
	s.DeviceSeen(ctx, "@alice:example.org", "AAA", "192.0.2.1", clock.Now())
	if d, _ := s.Device(ctx, "@alice:example.org", "AAA"); d.LastSeen.Equal(clock.Now()) {
		t.Error("last_seen written again within the throttle interval")
	}
	s.DeviceSeen(ctx, "@alice:example.org", "AAA", "192.0.2.2", clock.Now())
	if d, _ := s.Device(ctx, "@alice:example.org", "AAA"); d.LastSeenIP != "192.0.2.2" {
		t.Errorf("last_seen_ip = %q after a request from a new address", d.LastSeenIP)
	}
	if _, err := s.Device(ctx, "@bob:example.org", "AAA"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another user's device: %v, want M_NOT_FOUND", err)
	}
	if err := s.DeleteDevices(ctx, "@alice:example.org", nil); err != nil {
		t.Errorf("DeleteDevices(none) = %v", err)
	}
}

func BenchmarkSessionByAccessToken(b *testing.B) {
	ctx := context.Background()
	s, _ := mustAccountStore(b)
	mustCreateAccount(b, s, "@alice:example.org", "pw")
	tok := mustLogin(b, s, "@alice:example.org", "")
	b.Run("cached", func(b *testing.B) {
		if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.cache.invalidate(func(*core.Session) bool { return true })
			if _, err := s.SessionByAccessToken(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SessionByAccessToken(ctx, "hat_unknown"); !errors.Is(err, core.ErrUnknownToken) {
				b.Fatal(err)
			}
		}
	})
}

func TestDeviceChangesMarkTheDeviceList(t *testing.T) {
	ctx := context.Background()
	s, _ := mustAccountStore(t)
	mustCreateAccount(t, s, "@alice:example.org", "pw")
	mustCreateAccount(t, s, "@bob:example.org", "pw")
	changedAt := func(user string) int64 {
		var pos int64
		err := s.db.Reader().QueryRowContext(ctx, "SELECT stream_id FROM device_list_changes WHERE user_id = ?", user).Scan(&pos)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		return pos
	}
	last := int64(0)
	step := func(what string, change func() error, wantChange bool) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := changedAt("@alice:example.org")
		if wantChange && got <= last || !wantChange && got != last {
			t.Errorf("%s: device list position of alice %d → %d, want a change: %v", what, last, got, wantChange)
		}
		last = got
	}
	step("new device", func() error {
		_, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org", DeviceID: "A"})
		return err
	}, true)
	step("same device again", func() error {
		_, err := s.IssueTokens(ctx, core.NewLogin{UserID: "@alice:example.org", DeviceID: "A"})
		return err
	}, false)
	step("rename", func() error { return s.SetDeviceDisplayName(ctx, "@alice:example.org", "A", "Phone") }, true)
	step("delete unknown", func() error { return s.DeleteDevices(ctx, "@alice:example.org", []string{"NOPE"}) }, false)
	step("delete", func() error { return s.DeleteDevices(ctx, "@alice:example.org", []string{"A"}) }, true)
	mustLogin(t, s, "@alice:example.org", "B")
	last = changedAt("@alice:example.org")
	step("password change logging out", func() error {
		return s.SetPassword(ctx, core.PasswordChange{UserID: "@alice:example.org", NewPassword: "x", LogoutDevices: true})
	}, true)
	mustLogin(t, s, "@alice:example.org", "C")
	last = changedAt("@alice:example.org")
	step("logout all", func() error { return s.LogoutAll(ctx, "@alice:example.org") }, true)
	step("logout all without devices", func() error { return s.LogoutAll(ctx, "@alice:example.org") }, false)
	mustLogin(t, s, "@alice:example.org", "D")
	last = changedAt("@alice:example.org")
	step("deactivate", func() error { return s.Deactivate(ctx, "@alice:example.org") }, true)
	if changedAt("@bob:example.org") != 0 {
		t.Error("bob's device list marked by alice's changes")
	}
}
