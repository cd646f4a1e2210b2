package room

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// Queries to other servers for the client API: profiles and room
// directories (server-server API, "Querying for information" and "Public
// Room Directory").

// remoteQueryError passes a remote's M_NOT_FOUND on and turns other
// failures into M_UNAVAILABLE without the remote's internals.
func remoteQueryError(err error, server string) error {
	var me *core.Error
	if errors.As(err, &me) && me.Status >= 400 && me.Status < 500 {
		return me
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return core.ErrUnavailable.WithMessage("could not query %s", server)
}

// RemoteProfile asks userID's server for the user's profile (field "" for
// all fields).
func (f *Federation) RemoteProfile(ctx context.Context, userID, field string) (map[string]json.RawMessage, error) {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return nil, core.ErrInvalidParam.WithMessage("invalid user ID")
	}
	if f.cfg.Client == nil {
		return nil, core.ErrNotFound.WithMessage("Profile not found")
	}
	q := url.Values{"user_id": {userID}}
	if field != "" {
		q.Set("field", field)
	}
	var out map[string]json.RawMessage
	server := string(u.ServerName())
	if err := f.cfg.Client.Request(ctx, server, "GET", "/_matrix/federation/v1/query/profile?"+q.Encode(), nil, &out); err != nil {
		return nil, remoteQueryError(err, server)
	}
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	return out, nil
}

// RemotePublicRooms asks server for a page of its public room directory:
// limit (nil: the server's default), since, and a search term (which makes
// it a POST, as the filter needs a body).
func (f *Federation) RemotePublicRooms(ctx context.Context, server string, limit *int, since, search string) (json.RawMessage, error) {
	if _, err := id.ParseServerName(server); err != nil {
		return nil, core.ErrInvalidParam.WithMessage("%q is not a server name", server)
	}
	if f.cfg.Client == nil {
		return nil, core.ErrUnavailable.WithMessage("this server has no federation client")
	}
	var out json.RawMessage
	var err error
	if search == "" {
		q := url.Values{}
		if limit != nil {
			q.Set("limit", strconv.Itoa(*limit))
		}
		if since != "" {
			q.Set("since", since)
		}
		path := "/_matrix/federation/v1/publicRooms"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		err = f.cfg.Client.Request(ctx, server, "GET", path, nil, &out)
	} else {
		body := map[string]any{"filter": map[string]string{"generic_search_term": search}}
		if limit != nil {
			body["limit"] = *limit
		}
		if since != "" {
			body["since"] = since
		}
		err = f.cfg.Client.Request(ctx, server, "POST", "/_matrix/federation/v1/publicRooms", body, &out)
	}
	if err != nil {
		return nil, remoteQueryError(err, server)
	}
	if len(out) == 0 || out[0] != '{' {
		return nil, core.ErrUnavailable.WithMessage("%s answered something that is not a room directory", server)
	}
	return out, nil
}
