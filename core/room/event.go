package room

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/lru"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// Event is a stored event with its parsed PDU and its room version. PDU is
// shared with the pipeline's cache: treat it as read-only.
type Event struct {
	Stored  *core.StoredEvent
	PDU     *pdu.PDU
	Version *roomversion.Version
}

// ID returns the event's ID.
func (e *Event) ID() string { return e.Stored.EventID }

// otherCacheShare is the part of the cache's bound that other events
// (messages) may take: the pipeline reads state events again and again
// (auth events, state resolution) but a message hardly ever after its
// send, so a few recent ones are enough (a new event's prev_events), and
// messages read by /messages or /sync do not crowd out state events nor
// hold megabytes of parsed events.
const otherCacheShare = 16

// eventCache keeps parsed events by ID. Events never change once stored
// (redaction is applied when they are read for a client), so an entry
// never goes stale; the cache only bounds its memory: an event's size is
// estimated when it is stored, state events may take max bytes less
// max/otherCacheShare, other events the rest, least recently used
// dropped first.
type eventCache struct {
	mu    sync.Mutex
	max   int64
	state lru.Cache[string, *pdu.PDU]
	other lru.Cache[string, *pdu.PDU]
}

// setMax sets the cache's bound, before its first use.
func (c *eventCache) setMax(maxBytes int64) {
	c.max = maxBytes
	c.other.Max = maxBytes / otherCacheShare
	c.state.Max = maxBytes - c.other.Max
}

func (c *eventCache) get(id string) *pdu.PDU {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.state.Get(id); ok {
		return e
	}
	e, _ := c.other.Get(id)
	return e
}

func (c *eventCache) put(e *pdu.PDU) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.IsState() {
		c.state.Put(e.EventID, e, pduBytes(e))
	} else {
		c.other.Put(e.EventID, e, pduBytes(e))
	}
}

// pduParseOverhead is what a parsed event holds beyond its fields' bytes
// counted below (allocation size classes, slice and map headers), as
// measured by TestPDUSizeEstimate.
const pduParseOverhead = 640

// pduBytes estimates the memory a parsed event holds: its struct, its
// strings and raw JSON, its reference lists and signatures.
func pduBytes(e *pdu.PDU) int64 {
	n := pduParseOverhead + int64(unsafe.Sizeof(*e)) + int64(len(e.EventID)+len(e.RoomID)+len(e.Sender)+len(e.Type)) +
		int64(len(e.Content)+len(e.Unsigned))
	if e.StateKey != nil {
		n += lru.StringBytes(*e.StateKey)
	}
	if e.Redacts != nil {
		n += lru.StringBytes(*e.Redacts)
	}
	for _, ids := range [][]string{e.AuthEvents, e.PrevEvents} {
		for _, id := range ids {
			n += lru.StringBytes(id)
		}
	}
	if e.Hashes != nil {
		n += 64 + int64(len(e.Hashes.SHA256))
	}
	if e.Signatures != nil {
		n += lru.MapBytes(len(e.Signatures), 24)
		for server, sigs := range e.Signatures {
			n += int64(len(server)) + lru.MapBytes(len(sigs), 32)
			for k, v := range sigs {
				n += int64(len(k) + len(v))
			}
		}
	}
	if e.Unknown != nil {
		n += lru.MapBytes(len(e.Unknown), 40)
		for k, v := range e.Unknown {
			n += int64(len(k) + len(v))
		}
	}
	if e.Internal.RefHashes != nil {
		n += lru.MapBytes(len(e.Internal.RefHashes), 32)
		for k, v := range e.Internal.RefHashes {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// parseStored parses a stored event's JSON in its room's version and sets
// the event ID and the storage flags.
func parseStored(se *core.StoredEvent) (*pdu.PDU, *roomversion.Version, error) {
	v, err := roomversion.Lookup(roomversion.ID(se.RoomVersion))
	if err != nil {
		return nil, nil, fmt.Errorf("room: event %s: %w", se.EventID, err)
	}
	e, err := pdu.Parse(v, se.JSON)
	if err != nil {
		return nil, nil, fmt.Errorf("room: stored event %s: %w", se.EventID, err)
	}
	e.EventID = se.EventID
	e.Internal.Outlier = se.Outlier
	e.Internal.Rejected = se.Rejected
	e.Internal.SoftFailed = se.SoftFailed
	return e, v, nil
}

// pdus returns the parsed events among ids, from the cache or storage;
// unknown IDs are left out.
func (p *Pipeline) pdus(ctx context.Context, ids []string) (map[string]*pdu.PDU, error) {
	out := make(map[string]*pdu.PDU, len(ids))
	var missing []string
	for _, id := range ids {
		if e := p.cache.get(id); e != nil {
			out[id] = e
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	stored, err := p.stores.Events.Events(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, se := range stored {
		e, _, err := parseStored(se)
		if err != nil {
			return nil, err
		}
		p.cache.put(e)
		out[id] = e
	}
	return out, nil
}

// pduFunc is the fetch function the pure algorithms take: (nil, nil) for an
// unknown event.
func (p *Pipeline) pduFunc(ctx context.Context) func(id string) (*pdu.PDU, error) {
	return func(id string) (*pdu.PDU, error) {
		m, err := p.pdus(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		return m[id], nil
	}
}

// Event returns the stored event eventID with its parsed PDU. It returns an
// error wrapping core.ErrNotFound if the event is not stored.
func (p *Pipeline) Event(ctx context.Context, eventID string) (*Event, error) {
	se, err := p.stores.Events.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	return p.wrap(se)
}

// Events returns the stored events among eventIDs, keyed by ID; unknown IDs
// are left out.
func (p *Pipeline) Events(ctx context.Context, eventIDs []string) (map[string]*Event, error) {
	stored, err := p.stores.Events.Events(ctx, eventIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Event, len(stored))
	for id, se := range stored {
		if out[id], err = p.wrap(se); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Wrap parses stored events (for instance from a TimelineStore read) into
// Events, through the pipeline's cache.
func (p *Pipeline) Wrap(stored []*core.StoredEvent) ([]*Event, error) {
	out := make([]*Event, len(stored))
	for i, se := range stored {
		var err error
		if out[i], err = p.wrap(se); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *Pipeline) wrap(se *core.StoredEvent) (*Event, error) {
	v, err := roomversion.Lookup(roomversion.ID(se.RoomVersion))
	if err != nil {
		return nil, fmt.Errorf("room: event %s: %w", se.EventID, err)
	}
	e := p.cache.get(se.EventID)
	if e == nil {
		if e, _, err = parseStored(se); err != nil {
			return nil, err
		}
		p.cache.put(e)
	}
	return &Event{Stored: se, PDU: e, Version: v}, nil
}
