package storage

// writerKeys are keys the writer goroutine remembers from one transaction
// to the next, so that a send does not ask SQLite for them again: the last
// id each stream gave out (StreamIDs.Next) and rooms' keys (room_nid). A
// statement with RETURNING builds a table of the rows it returns; an
// UPDATE or INSERT whose values are known runs without one and cost ~6 µs
// less CPU in a microbenchmark, per statement.
//
// Only the writer goroutine touches them (through writerQueryer). What
// they hold is true of the database as the writer's transaction sees it,
// so every write that could make it false empties them:
//   - a write that fails: its changes are rolled back (its savepoint, or
//     the batch's transaction), and what it learned or gave out with them;
//     a rolled-back room's rowid may be given to another room;
//   - a COMMIT that fails;
//   - a room's purge, which deletes its row (dropWriterKeys).
//
// Nothing else changes these rows: stream_positions' rows of the streams
// that StreamIDs serves are written only by Next, rooms are inserted with
// new keys and deleted only by a purge.
type writerKeys struct {
	streams map[string]int64
	rooms   map[string]int64
}

// maxWriterRooms bounds the rooms' keys remembered.
const maxWriterRooms = 4096

// writerKeysOf returns the writer's keys when q is the writer's, nil
// otherwise.
func writerKeysOf(q Queryer) *writerKeys {
	if w, ok := q.(writerQueryer); ok && w.db != nil {
		return &w.db.keys
	}
	return nil
}

// streamOf returns the last id stream name gave out, if k (nil: not the
// writer's) knows it.
func (k *writerKeys) streamOf(name string) (int64, bool) {
	if k == nil {
		return 0, false
	}
	last, ok := k.streams[name]
	return last, ok
}

func (k *writerKeys) setStream(name string, last int64) {
	if k.streams == nil {
		k.streams = map[string]int64{}
	}
	k.streams[name] = last
}

// roomOf returns roomID's key, if k (nil: not the writer's) knows it.
func (k *writerKeys) roomOf(roomID string) (int64, bool) {
	if k == nil {
		return 0, false
	}
	nid, ok := k.rooms[roomID]
	return nid, ok
}

func (k *writerKeys) setRoom(roomID string, nid int64) {
	if k.rooms == nil || len(k.rooms) >= maxWriterRooms {
		k.rooms = map[string]int64{}
	}
	k.rooms[roomID] = nid
}

// forget empties the keys.
func (k *writerKeys) forget() {
	clear(k.streams)
	clear(k.rooms)
}

// dropWriterKeys empties the writer's keys when q is the writer's: the
// write changes rows they were read from.
func dropWriterKeys(q Queryer) {
	if k := writerKeysOf(q); k != nil {
		k.forget()
	}
}
