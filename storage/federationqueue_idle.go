package storage

import "sync/atomic"

// The federation sender wakes after every commit and asks QueueWaiting
// whether any queueing step has work. On a server whose rooms have no
// other server in them the answer is almost always no: a message of such
// a room moves the sender's position in its own write (sqlFedPass). That
// read was a read transaction per send, about a tenth of a send's CPU.
//
// So a "nothing waiting" answer is kept with the value DB.outbound had
// before it was read, and given again, without a read, while that value
// has not moved. The writer moves it at the commit of every write that
// does not say it gives the sender no work (noteOutboundIdle), before the
// write's caller returns and so before anyone is woken by it. A read whose
// snapshot missed such a commit began before that commit, hence before the
// move, so the value it keeps is already stale.
//
// A write says so when everything it changed leaves every answer of
// sqlFedWaiting as it was: PersistEvents when each event it gave a live
// stream position passed the sender's position (sqlFedPass moved it), the
// full-text index's batches, a checkpoint's finish. Every other write moves
// the value, whatever it touched.

// outboundIdle is a kept "nothing waiting" answer: the DB.outbound value
// plus one it was read at, 0 for none.
type outboundIdle struct{ at atomic.Uint64 }

// idle reports whether nothing waits at outbound value gen.
func (o *outboundIdle) idle(gen uint64) bool { return o.at.Load() == gen+1 }

// keep records that nothing waited in a read begun at outbound value gen.
func (o *outboundIdle) keep(gen uint64) { o.at.Store(gen + 1) }

// noteOutboundIdle marks the write on q as one that gives the federation
// sender no work: its commit leaves DB.outbound where it is.
func noteOutboundIdle(q Queryer) {
	if w, ok := q.(writerQueryer); ok && w.outboundIdle != nil {
		*w.outboundIdle = true
	}
}
