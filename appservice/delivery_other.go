//go:build !js

package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	as "hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/internal/httpout"
)

// Backoff bounds: a failed transaction is retried after minBackoff,
// doubling up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
	// batchSize is the most events one transaction carries.
	batchSize = 100
	// ephemeralBatch is the most ephemeral events one transaction
	// carries (Synapse's limit too).
	ephemeralBatch = 100
)

// run delivers r's transactions until the sender closes.
func (s *Sender) run(r *as.Registration) {
	backoff := time.Duration(0)
	for {
		var changed <-chan struct{}
		if s.o.Notifier != nil {
			changed = s.o.Notifier.Changed()
		}
		more, err := s.deliver(r)
		var wait <-chan time.Time
		switch {
		case err != nil:
			if s.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			s.o.Logger.Warn("application service: transaction failed", "service", r.ID, "err", err, "retry_in", backoff)
			wait = time.After(backoff)
			changed = nil
		case more:
			backoff = 0
			continue
		default:
			backoff = 0
		}
		select {
		case <-s.ctx.Done():
			return
		case <-changed:
		case <-s.wakes[r.ID]:
		case <-wait:
		}
	}
}

// deliver sends r its next transaction (or skips past events it is not
// interested in) and reports whether more wait. A transaction's bounds
// are recorded before it is first sent, so a retry, even after a
// restart, carries the same events under the same ID.
func (s *Sender) deliver(r *as.Registration) (more bool, err error) {
	ctx := s.ctx
	pos, err := s.o.Store.Position(ctx, r.ID)
	if err != nil {
		return false, err
	}
	evs, err := s.o.Store.EventsAfter(ctx, pos.Stream, batchSize)
	if err != nil {
		return false, err
	}
	more = len(evs) == batchSize
	var ephUpTo int64
	if pos.Pending != nil {
		// The transaction in flight: its events and ephemeral events
		// only. What came since goes in the next one.
		for i, ev := range evs {
			if ev.Stream > pos.Pending.Stream {
				evs = evs[:i]
				break
			}
		}
		ephUpTo = pos.Pending.Ephemeral
		more = true
	}
	last := pos.Stream
	if len(evs) > 0 {
		last = evs[len(evs)-1].Stream
	}
	out, err := s.interesting(ctx, r, evs)
	if err != nil {
		return false, err
	}
	var eph []json.RawMessage
	if pos.Pending == nil || ephUpTo > 0 {
		queued, err := s.o.Store.Ephemeral(ctx, r.ID, ephUpTo, ephemeralBatch)
		if err != nil {
			return false, err
		}
		for _, e := range queued {
			eph = append(eph, e.JSON)
		}
		if len(queued) > 0 {
			ephUpTo = queued[len(queued)-1].ID
			more = more || pos.Pending == nil && len(queued) == ephemeralBatch
		}
	}
	if len(out) == 0 && len(eph) == 0 {
		if last == pos.Stream {
			return false, nil
		}
		return more, s.o.Store.Advance(ctx, r.ID, last, pos.TxnID, 0)
	}
	if pos.Pending == nil {
		if err := s.o.Store.Pend(ctx, r.ID, as.Pending{Stream: last, Ephemeral: ephUpTo}); err != nil {
			return false, err
		}
	}
	if err := s.put(ctx, r, pos.TxnID, out, eph); err != nil {
		return false, err
	}
	return more, s.o.Store.Advance(ctx, r.ID, last, pos.TxnID+1, ephUpTo)
}

// interesting returns the JSON of the events of evs r is interested in.
func (s *Sender) interesting(ctx context.Context, r *as.Registration, evs []as.StreamEvent) ([]json.RawMessage, error) {
	members := map[string][]string{}
	aliases := map[string][]string{}
	var lookupErr error
	lookup := func(cache map[string][]string, get func(context.Context, string) ([]string, error), roomID string) func() []string {
		return func() []string {
			v, ok := cache[roomID]
			if !ok {
				var err error
				if v, err = get(ctx, roomID); err != nil && lookupErr == nil {
					lookupErr = err
				}
				cache[roomID] = v
			}
			return v
		}
	}
	var out []json.RawMessage
	for _, ev := range evs {
		if r.Interested(ev, lookup(members, s.o.Store.RoomMembers, ev.RoomID), lookup(aliases, s.o.Store.RoomAliases, ev.RoomID)) {
			out = append(out, ev.JSON)
		}
	}
	return out, lookupErr
}

// put is PUT /_matrix/app/v1/transactions/{txnId}.
// Ephemeral events go under "ephemeral" and, as Synapse also sends them
// for bridges written before MSC2409 was merged,
// "de.sorunome.msc2409.ephemeral".
func (s *Sender) put(ctx context.Context, r *as.Registration, txnID int64, events, eph []json.RawMessage) error {
	if events == nil {
		events = []json.RawMessage{}
	}
	txn := map[string]any{"events": events}
	if len(eph) > 0 {
		txn["ephemeral"] = eph
		txn["de.sorunome.msc2409.ephemeral"] = eph
	}
	body, err := json.Marshal(txn)
	if err != nil {
		return err
	}
	_, err = Call(ctx, s.o.Client, r, http.MethodPut, "/_matrix/app/v1/transactions/"+strconv.FormatInt(txnID, 10), nil, body)
	return err
}

// Call makes a request of the application service API to r with its
// hs_token as the bearer token, and returns the answer's body. A status
// other than 2xx is an error (*StatusError).
func Call(ctx context.Context, client httpout.Client, r *as.Registration, method, path string, query url.Values, body []byte) ([]byte, error) {
	u := strings.TrimSuffix(r.URL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.HSToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return b, &StatusError{Status: resp.StatusCode, Body: b}
	}
	return b, nil
}
