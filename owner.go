package hearth

import (
	"context"
	"fmt"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// ErrHasOwner is wrapped by the error CreateOwner returns when the
// homeserver already has accounts.
var ErrHasOwner = core.ErrForbidden.WithMessage("the homeserver already has an owner")

// NeedsOwner reports whether the homeserver has no account yet, so its
// first account, the owner, still has to be created.
func (hs *Homeserver) NeedsOwner(ctx context.Context) (bool, error) {
	has, err := hs.services.Accounts.HasAccounts(ctx)
	if err != nil {
		return false, fmt.Errorf("hearth: looking for accounts: %w", err)
	}
	return !has, nil
}

// CreateOwner creates the first account of an empty homeserver, an admin
// named @name:server_name with the given password, and returns its user
// ID. name is the localpart (upper case is folded to lower case, a leading
// '@' and a ":server_name" suffix are accepted). It returns an error
// wrapping ErrHasOwner when any account exists, core.ErrInvalidUsername for
// a name outside the user ID grammar and core.ErrMissingParam for an empty
// password.
func (hs *Homeserver) CreateOwner(ctx context.Context, name, password string) (string, error) {
	if password == "" {
		return "", core.ErrMissingParam.WithMessage("the owner needs a password")
	}
	return hs.createOwner(ctx, name, core.NewAccount{Password: password, Admin: true})
}

// CreateOwnerWithPasswordHash is CreateOwner with the password already
// hashed by storage.HashPassword (the browser host hashes it on another
// thread while the database opens). A hash made with other parameters
// than the server's is refused with core.ErrInvalidParam.
func (hs *Homeserver) CreateOwnerWithPasswordHash(ctx context.Context, name, hash string) (string, error) {
	if hash == "" {
		return "", core.ErrMissingParam.WithMessage("the owner needs a password")
	}
	return hs.createOwner(ctx, name, core.NewAccount{PasswordHash: hash, Admin: true})
}

func (hs *Homeserver) createOwner(ctx context.Context, name string, acct core.NewAccount) (string, error) {
	local := strings.ToLower(strings.TrimPrefix(name, "@"))
	local = strings.TrimSuffix(local, ":"+strings.ToLower(hs.ServerName))
	user, err := id.NewUserID(local, id.ServerName(hs.ServerName))
	if err != nil {
		return "", core.ErrInvalidUsername.WithMessage("owner name %q: %v", name, err)
	}
	need, err := hs.NeedsOwner(ctx)
	if err != nil {
		return "", err
	}
	if !need {
		return "", fmt.Errorf("hearth: create owner %s: %w", user, ErrHasOwner)
	}
	acct.UserID = string(user)
	created, err := hs.services.Accounts.CreateAccount(ctx, acct)
	if err != nil {
		return "", fmt.Errorf("hearth: create owner %s: %w", user, err)
	}
	return created.UserID, nil
}
