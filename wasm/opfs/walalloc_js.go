package opfs

// walGrowMin is the least a WAL's file is grown by: a 4 KiB-page WAL
// reaches about 4 MiB (1,000 frames, SQLite's automatic checkpoint)
// before SQLite starts it again from the beginning.
const walGrowMin = 4 << 20

// A WAL's file is grown ahead of its writes, in steps of at least
// walGrowMin and doubling. Growing an OPFS file makes the browser reserve
// quota for it, which a write inside the file does not: a WAL that
// starts empty (after every start, since closing the database deletes
// it) cost each commit's write a reservation, about 15 times the time of
// the same write once the file had its size. SQLite sees the WAL's own
// size (logical): reads stop there and Size reports it; closing the file
// gives the room back. After a crash the room stays, zero bytes that
// SQLite's recovery reads as the end of the log, as it reads the old
// frames of a WAL it started again.

// walSized learns the file's size the first time it is needed.
// +checklocks:h.mu
func (h *handle) walSized() error {
	if h.sized {
		return nil
	}
	n, err := h.rawSize()
	if err != nil {
		return err
	}
	h.logical, h.allocated, h.sized = n, n, true
	return nil
}

// walGrow makes room for a write that ends at end.
// +checklocks:h.mu
func (h *handle) walGrow(end int64) error {
	if err := h.walSized(); err != nil {
		return err
	}
	if end > h.allocated {
		size := max(end, 2*h.allocated, walGrowMin)
		if err := h.rawTruncate(size); err != nil {
			return err
		}
		h.allocated = size
	}
	h.logical = max(h.logical, end)
	return nil
}

// walTruncate sets the WAL's size as SQLite sees it, and the file's.
// +checklocks:h.mu
func (h *handle) walTruncate(size int64) error {
	if err := h.walSized(); err != nil {
		return err
	}
	if size != h.allocated {
		if err := h.rawTruncate(size); err != nil {
			return err
		}
		h.allocated = size
	}
	h.logical = size
	return nil
}

// walTrim gives back the room grown ahead of the WAL's writes.
// +checklocks:h.mu
func (h *handle) walTrim() error {
	if !h.sized || h.allocated <= h.logical {
		return nil
	}
	if err := h.rawTruncate(h.logical); err != nil {
		return err
	}
	h.allocated = h.logical
	return nil
}
