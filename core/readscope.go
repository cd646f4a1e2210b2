package core

import "context"

// ReadScopes open read scopes: the reads a request makes through a context
// carrying a scope share one read transaction of the database (one
// snapshot) instead of beginning one each. Under SQLite's WAL every read
// transaction begun after another connection committed starts from an
// empty page cache, so a request that reads five times pays for its pages
// five times. storage.DB implements it.
//
// A scope never hides a change the request could know of: storage ends
// its transaction when the request writes, and code that waits for news
// (Notifier), takes a lock that orders it after someone else's commit, or
// asks another server, calls ReleaseReads first; the next read then
// begins a new transaction that sees every commit made before it.
type ReadScopes interface {
	// ReadScope returns ctx carrying a new read scope and the function
	// that ends it (it must be called, once, when the request is done).
	// Where the database cannot keep a transaction open beside its writer
	// (one connection, as in the browser), the scope does nothing.
	ReadScope(ctx context.Context) (context.Context, func())
}

// ReadScope is what code outside storage can do with the scope of a
// context: end its read transaction.
type ReadScope interface {
	// Release ends the scope's read transaction, if one is open (once the
	// reads running in it are done); the next read begins a new one.
	Release()
}

type readScopeKey struct{}

// WithReadScope returns ctx carrying s (nil: ctx without a scope, for
// work that must begin its own transactions, such as filling a cache
// whose generation was taken before the read).
func WithReadScope(ctx context.Context, s ReadScope) context.Context {
	if s == nil && ctx.Value(readScopeKey{}) == nil {
		return ctx
	}
	return context.WithValue(ctx, readScopeKey{}, s)
}

// ReadScopeOf returns the read scope ctx carries, or nil.
func ReadScopeOf(ctx context.Context) ReadScope {
	s, _ := ctx.Value(readScopeKey{}).(ReadScope)
	return s
}

// ReleaseReads ends the read transaction of ctx's scope, if any: call it
// before waiting for news (before Notifier.Changed and before the wait),
// before waiting for another server, and after taking a lock whose holder
// may have committed just before.
func ReleaseReads(ctx context.Context) {
	if s := ReadScopeOf(ctx); s != nil {
		s.Release()
	}
}
