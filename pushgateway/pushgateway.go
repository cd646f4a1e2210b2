// Package pushgateway delivers push notifications to push gateways (the
// Push Gateway API, POST /_matrix/push/v1/notify) for users' http pushers.
//
// A Dispatcher is the push.Deliverer of core/push's Service: given the
// notifications the push rules found and storage recorded, it queues one
// request per notification and http pusher, sent by a background
// goroutine, retried with exponential backoff when the gateway fails, and
// the pushers whose pushkeys the gateway rejects are deleted. It evaluates
// nothing and records nothing.
//
// Importing the package has no side effects.
package pushgateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
	"hearth.dev/hearth/internal/httpout"
)

// Options configure a Dispatcher.
type Options struct {
	// Notifications counts a user's unread notifications (sent with each
	// notification); Pushers lists users' pushers. Both are required.
	Notifications core.NotificationStore
	Pushers       core.PusherStore
	// Client sends the requests; nil uses a client with a 30 s timeout.
	Client httpout.Client
	// Logger receives delivery failures; nil uses slog.Default().
	Logger *slog.Logger
	// QueueSize bounds the requests waiting to be sent (default 1024); when
	// it is full, new notifications are dropped (and logged).
	QueueSize int
	// Attempts is how many times a request is tried (default 6), the first
	// retry after Backoff (default 2 s), each next one after twice as long.
	Attempts int
	Backoff  time.Duration
}

// Dispatcher delivers notifications to push gateways. It implements
// push.Deliverer.
type Dispatcher struct {
	opts   Options
	queue  chan *delivery
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	timers map[*time.Timer]bool
}

var _ push.Deliverer = (*Dispatcher)(nil)

// delivery is one request to one gateway.
type delivery struct {
	url     string
	body    []byte
	userID  string
	appID   string
	pushKey string
	attempt int
}

// New returns a Dispatcher and starts its sending goroutine; Close stops
// it.
func New(o Options) (*Dispatcher, error) {
	if o.Notifications == nil || o.Pushers == nil {
		return nil, errors.New("pushgateway: the notification and pusher stores are required")
	}
	if o.Client == nil {
		o.Client = httpout.New(30 * time.Second)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	d := &Dispatcher{opts: o, queue: make(chan *delivery, o.QueueSize), done: make(chan struct{}), timers: map[*time.Timer]bool{}}
	d.wg.Add(1)
	go d.run()
	return d, nil
}

// Close stops sending: queued and pending retries are dropped. It waits for
// a request in flight to finish.
func (d *Dispatcher) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		for t := range d.timers {
			t.Stop()
		}
		d.mu.Unlock()
		close(d.done)
		d.wg.Wait()
	})
	return nil
}

// Deliver implements push.Deliverer: it queues the delivery of notes to
// the users' http pushers.
func (d *Dispatcher) Deliver(ctx context.Context, notes []push.Notification) error {
	for i := range notes {
		n := &notes[i]
		pushers, err := d.opts.Pushers.Pushers(ctx, n.UserID)
		if err != nil {
			return err
		}
		unread := int64(-1) // counted for the first http pusher
		for _, p := range pushers {
			if p.Kind != core.PusherKindHTTP {
				continue
			}
			if unread < 0 {
				if unread, err = d.opts.Notifications.UnreadTotal(ctx, n.UserID); err != nil {
					return err
				}
			}
			dl, err := newDelivery(n, p, unread)
			if err != nil {
				d.opts.Logger.WarnContext(ctx, "push: cannot build a notification", "user", n.UserID, "app_id", p.AppID, "err", err)
				continue
			}
			d.enqueue(dl)
		}
	}
	return nil
}

// enqueue queues dl unless the queue is full or the dispatcher closed.
func (d *Dispatcher) enqueue(dl *delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	select {
	case d.queue <- dl:
	default:
		d.opts.Logger.Warn("push: queue full, notification dropped", "user", dl.userID, "app_id", dl.appID)
	}
}

func (d *Dispatcher) run() {
	defer d.wg.Done()
	for {
		select {
		case <-d.done:
			return
		case dl := <-d.queue:
			d.send(dl)
		}
	}
}

// send posts one notification, retrying later on failure, and deletes the
// pushers the gateway rejects.
func (d *Dispatcher) send(dl *delivery) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	rejected, err := d.post(ctx, dl)
	if err != nil {
		dl.attempt++
		if dl.attempt >= d.opts.Attempts {
			d.opts.Logger.Warn("push: giving up on a notification", "user", dl.userID, "app_id", dl.appID, "attempts", dl.attempt, "err", err)
			return
		}
		d.retryLater(dl, d.opts.Backoff<<(dl.attempt-1))
		return
	}
	for _, key := range rejected {
		if key != dl.pushKey {
			continue // a pushkey of another request
		}
		if err := d.opts.Pushers.DeletePusher(ctx, dl.userID, dl.appID, key); err != nil {
			d.opts.Logger.Warn("push: deleting a rejected pusher", "user", dl.userID, "app_id", dl.appID, "err", err)
		}
	}
}

// retryLater queues dl again after wait.
func (d *Dispatcher) retryLater(dl *delivery, wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		d.mu.Lock()
		delete(d.timers, t)
		d.mu.Unlock()
		d.enqueue(dl)
	})
	d.timers[t] = true
}

// post sends the request and returns the rejected pushkeys.
func (d *Dispatcher) post(ctx context.Context, dl *delivery) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.url, bytes.NewReader(dl.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("push gateway answered %s", resp.Status)
	}
	var out struct {
		Rejected []string `json:"rejected"`
	}
	if json.Unmarshal(b, &out) != nil {
		return nil, nil // a success without a readable body rejects nothing
	}
	return out.Rejected, nil
}

// newDelivery builds the request for notification n to pusher p; unread
// is the user's unread count.
func newDelivery(n *push.Notification, p core.Pusher, unread int64) (*delivery, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return nil, fmt.Errorf("pusher data: %w", err)
	}
	var url, format string
	if err := json.Unmarshal(data["url"], &url); err != nil || url == "" {
		return nil, errors.New("pusher without url")
	}
	json.Unmarshal(data["format"], &format)
	delete(data, "url") // the gateway gets data without url
	body, err := json.Marshal(map[string]any{"notification": notification(n, p, data, format, unread)})
	if err != nil {
		return nil, err
	}
	return &delivery{url: url, body: body, userID: n.UserID, appID: p.AppID, pushKey: p.PushKey}, nil
}

// notification is the body's notification object (push gateway API).
func notification(n *push.Notification, p core.Pusher, data map[string]json.RawMessage, format string, unread int64) map[string]any {
	device := map[string]any{
		"app_id":     p.AppID,
		"pushkey":    p.PushKey,
		"pushkey_ts": p.PushKeyTS / 1000,
		"data":       data,
	}
	if len(n.Actions.Tweaks) > 0 {
		device["tweaks"] = n.Actions.Tweaks
	}
	out := map[string]any{
		"event_id": n.EventID,
		"room_id":  n.RoomID,
		"devices":  []any{device},
	}
	if unread > 0 {
		out["counts"] = map[string]int64{"unread": unread}
	} else {
		out["counts"] = map[string]int64{}
	}
	if format == "event_id_only" {
		return out
	}
	var ev struct {
		Type     string          `json:"type"`
		Sender   string          `json:"sender"`
		StateKey *string         `json:"state_key"`
		Content  json.RawMessage `json:"content"`
	}
	json.Unmarshal(n.Event, &ev)
	out["type"] = ev.Type
	out["sender"] = ev.Sender
	if len(ev.Content) > 0 && ev.Content[0] == '{' {
		out["content"] = ev.Content
	}
	if ev.StateKey != nil && ev.Type == "m.room.member" {
		out["user_is_target"] = *ev.StateKey == n.UserID
	}
	for k, v := range map[string]string{"sender_display_name": n.Room.SenderDisplayName, "room_name": n.Room.RoomName, "room_alias": n.Room.RoomAlias} {
		if v != "" {
			out[k] = v
		}
	}
	if n.Actions.Highlight || n.Actions.Sound != "" {
		out["prio"] = "high"
	} else {
		out["prio"] = "low"
	}
	return out
}
