package idb

import "hearth.dev/hearth/wasm/jsvfs"

import "io"

// blockSize is the unit in which files are kept in memory and in IndexedDB.
const blockSize = 16 << 10

// data is the contents of one file in memory, shared by every vfs.File of
// this program that has its path open. All fields are guarded by mu.
type data struct {
	path   string
	refs   int
	blocks []*[blockSize]byte // len(blocks) == ceil(size / blockSize)
	size   int64

	// dirty holds the indexes of blocks changed since the last save.
	dirty map[int]struct{}
	// resized is set when size changed since the last save.
	resized bool
	// created is set until the file's first save.
	created bool
	// saved is the number of blocks IndexedDB holds for the file.
	saved int
	// orphan is set once the file was deleted while open: it is never
	// saved again.
	orphan bool

	locks jsvfs.LockTable
	// release gives up the Web Lock of a main database, or is nil.
	release func()
}

// changed reports whether the file has anything to save.
func (d *data) changed() bool {
	return !d.orphan && (d.created || d.resized || len(d.dirty) > 0)
}

// readAt reads into b from offset off. A read past the end of the file
// returns fewer bytes and io.EOF.
func (d *data) readAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if off >= d.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off < d.size {
		blk, in := off/blockSize, off%blockSize
		end := min(int64(blockSize), in+int64(len(b)-n), in+d.size-off)
		c := copy(b[n:], d.blocks[blk][in:end])
		n += c
		off += int64(c)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// writeAt writes b at offset off, growing the file as needed.
func (d *data) writeAt(b []byte, off int64) (int, error) {
	if end := off + int64(len(b)); end > d.size {
		d.resize(end)
	}
	n := 0
	for n < len(b) {
		blk, in := off/blockSize, off%blockSize
		c := copy(d.blocks[blk][in:], b[n:])
		d.dirty[int(blk)] = struct{}{}
		n += c
		off += int64(c)
	}
	return n, nil
}

// resize makes the file size bytes long. Bytes past the old end read as
// zeros.
func (d *data) resize(size int64) {
	if size == d.size {
		return
	}
	nblocks := int((size + blockSize - 1) / blockSize)
	if size < d.size {
		clear(d.blocks[nblocks:])
		d.blocks = d.blocks[:nblocks]
		for i := range d.dirty {
			if i >= nblocks {
				delete(d.dirty, i)
			}
		}
		if in := size % blockSize; in != 0 {
			clear(d.blocks[nblocks-1][in:])
			d.dirty[nblocks-1] = struct{}{}
		}
	} else {
		for len(d.blocks) < nblocks {
			d.dirty[len(d.blocks)] = struct{}{}
			d.blocks = append(d.blocks, new([blockSize]byte))
		}
	}
	d.size = size
	d.resized = true
}
