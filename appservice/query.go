package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"hearth.dev/hearth/core"
	as "hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/internal/httpout"
)

// Requester makes the homeserver's requests of application services; it
// implements core/appservice.Requester.
type Requester struct {
	Client httpout.Client
	// Now is the clock of ping's duration (nil: time.Now).
	Now func() time.Time
}

var _ as.Requester = (*Requester)(nil)

// NewRequester returns a Requester whose requests time out after 30 s.
func NewRequester() *Requester {
	return &Requester{Client: httpout.New(30 * time.Second), Now: time.Now}
}

// Ping implements core/appservice.Requester.
func (q *Requester) Ping(ctx context.Context, r *as.Registration, txnID string) (int64, error) {
	if r.URL == "" {
		return 0, core.ErrURLNotSet
	}
	body := []byte("{}")
	if txnID != "" {
		body, _ = json.Marshal(map[string]string{"transaction_id": txnID})
	}
	start := q.Now()
	_, err := Call(ctx, q.Client, r, http.MethodPost, "/_matrix/app/v1/ping", nil, body)
	if err != nil {
		return 0, pingError(err)
	}
	return q.Now().Sub(start).Milliseconds(), nil
}

// pingError turns a failed ping into the error the client gets.
func pingError(err error) error {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return core.ErrBadStatus.WithMessage("Ping returned status %d", se.Status).WithExtra("status", se.Status).WithExtra("body", string(se.Body))
	case isTimeout(err):
		return core.ErrConnectionTimeout
	default:
		return core.ErrConnectionFailed
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// QueryUser implements core/appservice.Requester.
func (q *Requester) QueryUser(ctx context.Context, r *as.Registration, userID string) (bool, error) {
	return q.exists(ctx, r, "/_matrix/app/v1/users/"+url.PathEscape(userID))
}

// QueryAlias implements core/appservice.Requester.
func (q *Requester) QueryAlias(ctx context.Context, r *as.Registration, alias string) (bool, error) {
	return q.exists(ctx, r, "/_matrix/app/v1/rooms/"+url.PathEscape(alias))
}

// exists asks path: 200 is yes, 404 (or any other refusal) is no.
func (q *Requester) exists(ctx context.Context, r *as.Registration, path string) (bool, error) {
	if r.URL == "" {
		return false, nil
	}
	_, err := Call(ctx, q.Client, r, http.MethodGet, path, nil, nil)
	var se *StatusError
	if errors.As(err, &se) {
		return false, nil
	}
	return err == nil, err
}

// ThirdParty implements core/appservice.Requester.
func (q *Requester) ThirdParty(ctx context.Context, r *as.Registration, path string, query map[string][]string) (json.RawMessage, error) {
	b, err := Call(ctx, q.Client, r, http.MethodGet, "/_matrix/app/v1/thirdparty/"+path, url.Values(query), nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("application service answered with invalid JSON")
	}
	return b, nil
}

// AliasResolver resolves local room aliases for other servers
// (federation's query/directory) as the client API does for clients: an
// alias no room has is asked of the services whose alias namespaces hold
// it, and resolved again when one says it made the room.
type AliasResolver struct {
	// Resolve maps a local alias to its room (M_NOT_FOUND when none).
	Resolve  func(ctx context.Context, alias string) (string, error)
	Services *as.Set
	Requests as.Requester
	Logger   *slog.Logger
}

// ResolveAlias returns the room of alias.
func (a AliasResolver) ResolveAlias(ctx context.Context, alias string) (string, error) {
	roomID, err := a.Resolve(ctx, alias)
	if !errors.Is(err, core.ErrNotFound) || a.Requests == nil {
		return roomID, err
	}
	for _, r := range a.Services.AliasQueryTarget(alias) {
		ok, qerr := a.Requests.QueryAlias(ctx, r, alias)
		if qerr != nil && a.Logger != nil {
			a.Logger.WarnContext(ctx, "application service alias query", "service", r.ID, "alias", alias, "err", qerr)
		}
		if ok {
			return a.Resolve(ctx, alias)
		}
	}
	return roomID, err
}
