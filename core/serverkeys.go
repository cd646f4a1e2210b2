package core

import (
	"context"
	"crypto/ed25519"
)

// ErrKeyNotFound is returned (wrapped) by a KeyRing and a ServerKeyStore
// for a key they cannot find, or that was not valid at the time asked
// about. It is an M_NOT_FOUND, so errors.Is(err, ErrNotFound) holds too, as
// KeyRing's contract says.
var ErrKeyNotFound = ErrNotFound.WithMessage("server key not found")

// RemoteServerKey is one public key of another server as last fetched.
type RemoteServerKey struct {
	ServerName string
	KeyID      string
	Key        ed25519.PublicKey
	// ValidUntilTS is when a current key's validity ends (already capped,
	// see the server-server API's "Publishing Keys"); 0 for an old key.
	ValidUntilTS int64
	// ExpiredTS is when an old key stopped being used; 0 for a current key.
	ExpiredTS int64
}

// ServerKeyStore caches other servers' keys, and the signed responses they
// came in so this server can act as a notary.
type ServerKeyStore interface {
	// RemoteServerKey returns the cached key, or an error wrapping
	// ErrKeyNotFound.
	RemoteServerKey(ctx context.Context, server, keyID string) (RemoteServerKey, error)
	// StoreRemoteServerKeys records server's keys from one verified
	// response (its JSON kept whole, with validUntilTS) in one write. A key
	// seen before is updated; a response older than the stored one (lower
	// validUntilTS) does not replace it.
	StoreRemoteServerKeys(ctx context.Context, server string, keyJSON []byte, validUntilTS int64, keys []RemoteServerKey) error
	// RemoteServerKeysJSON returns the stored response of server's keys
	// and its valid_until_ts, or an error wrapping ErrKeyNotFound.
	RemoteServerKeysJSON(ctx context.Context, server string) ([]byte, int64, error)
}

// FederationTxnStore remembers the answers to inbound federation
// transactions, so a retried PUT /send/{txnId} gets the same answer and is
// not processed twice.
type FederationTxnStore interface {
	// FederationTxnResponse returns the stored answer to (origin, txnID),
	// or an error wrapping ErrNotFound.
	FederationTxnResponse(ctx context.Context, origin, txnID string) ([]byte, error)
	// StoreFederationTxnResponse records the answer.
	StoreFederationTxnResponse(ctx context.Context, origin, txnID string, response []byte) error
}
