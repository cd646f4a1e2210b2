package storage

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters for new password hashes.
// Existing hashes keep the parameters written in their PHC string.
type PasswordParams struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultPasswordParams follow OWASP's minimum for argon2id (19 MiB, two
// passes, one thread): about 20-40 ms per hash on this machine kind.
var DefaultPasswordParams = PasswordParams{Memory: 19456, Time: 2, Threads: 1}

const (
	passwordSaltLen = 16
	passwordKeyLen  = 32
	// maxPasswordLen bounds what is hashed (argon2 takes any length, but a
	// megabyte password is not a password).
	maxPasswordLen = 1024
)

// errBadHash is returned for a stored hash that is not an argon2id PHC
// string hearth can verify.
var errBadHash = errors.New("storage: malformed password hash")

// hashSlots bounds concurrent argon2 runs, each of which takes Memory KiB.
var hashSlots = make(chan struct{}, 2)

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>, salt and
// hash in unpadded standard base64.
func hashPassword(p PasswordParams, password string) (string, error) {
	if len(password) > maxPasswordLen {
		return "", fmt.Errorf("storage: password longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, passwordSaltLen)
	rand.Read(salt)
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, passwordKeyLen)
	<-hashSlots
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// HashPassword returns the PHC string of password under
// DefaultPasswordParams, as an account store with default parameters
// stores it: what core.NewAccount.PasswordHash takes from a host that
// hashes elsewhere.
func HashPassword(password string) (string, error) {
	return hashPassword(DefaultPasswordParams, password)
}

// madeHere reports whether encoded is a PHC string this store could have
// written: argon2id with exactly its parameters and salt and key lengths,
// so a hash made elsewhere is never weaker than the store's own.
func (s *AccountStore) madeHere(encoded string) bool {
	h, err := parsePHC(encoded)
	return err == nil && h.params == s.params && len(h.salt) == passwordSaltLen && len(h.key) == passwordKeyLen
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params    PasswordParams
	salt, key []byte
}

// parsePHC parses an argon2id PHC string, refusing parameters outside what
// hearth would ever write (so a tampered row cannot make a login allocate
// gigabytes).
func parsePHC(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, errBadHash
	}
	var m, t, p uint64
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return h, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, errBadHash
		}
		switch k {
		case "m":
			m, seen[0] = n, true
		case "t":
			t, seen[1] = n, true
		case "p":
			p, seen[2] = n, true
		default:
			return h, errBadHash
		}
	}
	if seen != [3]bool{true, true, true} || p < 1 || p > 16 || t < 1 || t > 64 || m < 8*p || m > 1<<20 {
		return h, errBadHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return h, errBadHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return h, errBadHash
	}
	h.params = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	h.salt, h.key = salt, key
	return h, nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing the derived keys in constant time.
func verifyPassword(encoded, password string) (bool, error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > maxPasswordLen {
		return false, nil
	}
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	<-hashSlots
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// dummyHash is verified against when there is no real hash to check (an
// unknown user), so the answer takes as long as for a wrong password.
type dummyHash struct {
	once sync.Once
	hash string
}

func (d *dummyHash) verify(p PasswordParams, password string) {
	d.once.Do(func() {
		d.hash, _ = hashPassword(p, "not a password")
	})
	verifyPassword(d.hash, password)
}
