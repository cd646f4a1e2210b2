package core

import (
	"context"
	"encoding/json"
)

// PusherKindHTTP is the kind of pusher that posts to a push gateway.
const PusherKindHTTP = "http"

// Pusher is a configured pusher (POST /pushers/set).
type Pusher struct {
	UserID            string          `json:"-"`
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
	// PushKeyTS is when the pushkey was last set, in milliseconds.
	PushKeyTS int64 `json:"-"`
	// DeviceID is the device whose access token set the pusher.
	DeviceID string `json:"-"`
}

// PusherStore keeps pushers, keyed by user, app ID and pushkey.
type PusherStore interface {
	// Pushers returns userID's pushers, oldest first.
	Pushers(ctx context.Context, userID string) ([]Pusher, error)
	// SetPusher creates or updates p's pusher. Unless appendOthers is set,
	// the pushers of other users with the same app ID and pushkey are
	// deleted.
	SetPusher(ctx context.Context, p Pusher, appendOthers bool) error
	// DeletePusher deletes one pusher; deleting an absent one changes
	// nothing.
	DeletePusher(ctx context.Context, userID, appID, pushKey string) error
}
