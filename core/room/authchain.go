package room

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/stateres"
)

// resolveOptions are the state resolution options of the pipeline: the
// auth difference from storage's auth chain index and bulk event fetches.
// pending are events being received, not stored yet, which the state sets
// may hold: the index takes each as its auth events, which is its chain.
func (p *Pipeline) resolveOptions(ctx context.Context, pending ...*pdu.PDU) *stateres.Options {
	return &stateres.Options{
		AuthDifference: func(sets []stateres.StateMap) ([]string, bool, error) {
			in := make([]core.AuthChainSet, len(sets))
			for i, s := range sets {
				in[i].Events = make([]string, 0, len(s))
			ids:
				for _, id := range s {
					for _, e := range pending {
						if e.EventID == id {
							in[i].Chain = append(in[i].Chain, e.AuthEvents...)
							continue ids
						}
					}
					in[i].Events = append(in[i].Events, id)
				}
			}
			return p.stores.AuthChains.AuthChainDifference(ctx, in)
		},
		FetchMany: func(ids []string) (map[string]*pdu.PDU, error) { return p.pdus(ctx, ids) },
	}
}

// authChainEvents returns the stored events of the auth chains of of and
// with, and the events of with themselves, oldest (by depth) first. It asks
// the index, and walks auth_events only where the index cannot answer yet.
func (p *Pipeline) authChainEvents(ctx context.Context, of, with []string) ([]*core.StoredEvent, error) {
	roots := slices.Concat(of, with)
	chain, ok, err := p.stores.AuthChains.AuthChain(ctx, roots)
	if err != nil {
		return nil, err
	}
	if !ok {
		if chain, err = p.walkAuthChain(ctx, roots); err != nil {
			return nil, err
		}
	}
	ids := slices.Concat(chain, with)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	stored, err := p.stores.Events.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*core.StoredEvent, 0, len(stored))
	for _, se := range stored {
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b *core.StoredEvent) int {
		return cmp.Or(cmp.Compare(a.Depth, b.Depth), strings.Compare(a.EventID, b.EventID))
	})
	return out, nil
}

// walkAuthChain returns the stored events reachable from ids through
// auth_events (ids themselves only if reached), walking a level at a time.
func (p *Pipeline) walkAuthChain(ctx context.Context, ids []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	parsed, err := p.pdus(ctx, ids)
	if err != nil {
		return nil, err
	}
	var frontier []string
	for _, e := range parsed {
		frontier = append(frontier, e.AuthEvents...)
	}
	for len(frontier) > 0 {
		var want []string
		for _, id := range frontier {
			if !seen[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		got, err := p.pdus(ctx, want)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, id := range want {
			if e := got[id]; e != nil {
				out = append(out, id)
				frontier = append(frontier, e.AuthEvents...)
			}
		}
	}
	return out, nil
}
