package storage

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"hearth.dev/hearth/core"
)

func TestHashPassword(t *testing.T) {
	h, err := hashPassword(testPasswordParams, "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with the given parameters", h)
	}
	again, _ := hashPassword(testPasswordParams, "hunter2")
	if again == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{{"hunter2", true}, {"hunter3", false}, {"", false}, {"hunter2\x00", false}} {
		got, err := verifyPassword(h, tt.password)
		if err != nil || got != tt.want {
			t.Errorf("verifyPassword(%q) = %v, %v; want %v", tt.password, got, err, tt.want)
		}
	}
	if _, err := hashPassword(testPasswordParams, strings.Repeat("x", maxPasswordLen+1)); err == nil {
		t.Error("hashPassword accepted an over-long password")
	}
}

// TestVerifyKnownHash checks the PHC reading against an argon2id hash
// computed independently of hashPassword (RFC 9106 parameters differ; this
// one is built from argon2.IDKey with a fixed salt).
func TestVerifyKnownHash(t *testing.T) {
	salt := []byte("saltsaltsaltsalt")
	key := argon2.IDKey([]byte("password"), salt, 2, 32, 1, 32)
	phcString := "$argon2id$v=19$m=32,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	ok, err := verifyPassword(phcString, "password")
	if err != nil || !ok {
		t.Fatalf("verifyPassword(known hash) = %v, %v; want true", ok, err)
	}
	// The same string with the key's first byte changed must fail.
	key[0] ^= 1
	bad := "$argon2id$v=19$m=32,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if ok, err := verifyPassword(bad, "password"); err != nil || ok {
		t.Errorf("verifyPassword(altered hash) = %v, %v; want false", ok, err)
	}
}

func TestParsePHCRejects(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)
	if _, err := parsePHC(good); err != nil {
		t.Fatalf("parsePHC(%q) = %v", good, err)
	}
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=-1,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		good + "$",
	} {
		if _, err := parsePHC(bad); err == nil {
			t.Errorf("parsePHC(%q) accepted", bad)
		}
		if ok, err := verifyPassword(bad, "x"); err == nil || ok {
			t.Errorf("verifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// FuzzParsePHC: no input panics, and whatever parses keeps the bounds that
// stop a stored hash from making a login allocate without limit.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		if h.params.Memory > 1<<20 || h.params.Time > 64 || h.params.Threads == 0 || len(h.salt) < 8 || len(h.key) < 16 || len(h.key) > 128 {
			t.Errorf("parsePHC(%q) accepted out-of-bounds %+v salt %d key %d", s, h.params, len(h.salt), len(h.key))
		}
	})
}

// BenchmarkHashPassword measures one argon2id hash at the default
// parameters: the cost of a login, a registration or a password check.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hashPassword(DefaultPasswordParams, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCreateAccountWithPasswordHash: an account takes a password hashed
// elsewhere by HashPassword (the browser's helper worker), and the
// password then logs in; a hash with other parameters than the store's
// (weaker or not), a malformed one, or a hash given with a password is
// refused and creates nothing.
func TestCreateAccountWithPasswordHash(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	s := NewAccountStore(db, AccountOptions{})
	hash, err := HashPassword("owner-pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, core.NewAccount{UserID: "@owner:example.org", PasswordHash: hash, Admin: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword(ctx, "@owner:example.org", "owner-pw"); err != nil {
		t.Errorf("the password hashed elsewhere does not log in: %v", err)
	}
	if err := s.CheckPassword(ctx, "@owner:example.org", "other"); err == nil {
		t.Error("a wrong password logged in")
	}
	weak, err := hashPassword(PasswordParams{Memory: 64, Time: 1, Threads: 1}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPasswordParams
	stronger, err := hashPassword(PasswordParams{Memory: p.Memory * 2, Time: p.Time, Threads: p.Threads}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a    core.NewAccount
	}{
		{"weaker parameters", core.NewAccount{PasswordHash: weak}},
		{"other parameters", core.NewAccount{PasswordHash: stronger}},
		{"not a PHC string", core.NewAccount{PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5"}},
		{"password and hash", core.NewAccount{Password: "pw", PasswordHash: hash}},
	} {
		c.a.UserID = "@refused:example.org"
		if _, err := s.CreateAccount(ctx, c.a); err == nil {
			t.Errorf("%s: account created", c.name)
		}
	}
	if _, err := s.Account(ctx, "@refused:example.org"); err == nil {
		t.Error("a refused account exists")
	}
}
