package storage

import (
	"encoding/binary"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"
)

// BM25's parameters, FTS5's own.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// searchRank is the SQL function search_rank(event_search, averages,
// docsize): the rank of the current match, higher for a better one.
// averages is the index's record of its row count and tokens per column
// (event_search_data, id 1) and docsize the match's tokens per column
// (event_search_docsize), both varints as FTS5 stores them; the function
// is given them rather than asking FTS5 (a call into FTS5 that prepares a
// statement from within a Go function stops the translated SQLite module).
//
// It is Okapi BM25 as FTS5's bm25() computes it (each phrase's
// occurrences in the row, weighed against the row's length in tokens over
// the average; k1 1.2, b 0.75), except that every phrase weighs the same.
// bm25() weighs a phrase by how rare it is, which it learns by reading
// every posting of every phrase of the query: a cost that grows with the
// index however few matches are ranked. A search's words must all match,
// so every result holds every word and the weights only balanced words of
// different frequency against each other; a search of one word (or of the
// index words one word begins) ranks as bm25() ranks it.
func searchRank(fts fts5.Context, ctx sqlite3.Context, arg ...sqlite3.Value) {
	if len(arg) != 2 {
		ctx.ResultError(invalid("search_rank takes the averages and the row's sizes"))
		return
	}
	var buf [16]float64
	freq, err := phraseFreqs(fts, buf[:0])
	if err != nil {
		ctx.ResultError(err)
		return
	}
	ctx.ResultFloat(bm25(freq, rowSize(arg[1].RawBlob()), averageSize(arg[0].RawBlob())))
}

// searchFreqs is the SQL function search_freqs(event_search): the current
// match's occurrences of each phrase, as uvarints, for a rank computed
// later with the same bm25 (searchrankcache.go).
func searchFreqs(fts fts5.Context, ctx sqlite3.Context, arg ...sqlite3.Value) {
	var buf [16]float64
	freq, err := phraseFreqs(fts, buf[:0])
	if err != nil {
		ctx.ResultError(err)
		return
	}
	var out []byte
	for _, f := range freq {
		out = binary.AppendUvarint(out, uint64(f))
	}
	ctx.ResultBlob(out)
}

// phraseFreqs counts the current match's occurrences of each phrase into
// buf's array (grown when the query has more phrases).
func phraseFreqs(fts fts5.Context, buf []float64) ([]float64, error) {
	n, err := fts.InstCount()
	if err != nil {
		return nil, err
	}
	p := fts.PhraseCount()
	freq := buf[:0]
	if p <= cap(buf) {
		freq = buf[:p]
		clear(freq)
	} else {
		freq = make([]float64, p)
	}
	for i := range n {
		phrase, _, _, err := fts.Inst(i)
		if err != nil {
			return nil, err
		}
		if phrase >= 0 && phrase < len(freq) {
			freq[phrase]++
		}
	}
	return freq, nil
}

// averageSize is the tokens per row of the index's record of its row
// count and tokens per column (event_search_data, id 1), 1 when empty.
func averageSize(averages []byte) float64 {
	avg := 1.0
	if v := varints(averages); len(v) > 1 && v[0] > 0 {
		var total uint64
		for _, t := range v[1:] {
			total += t
		}
		if total > 0 {
			avg = float64(total) / float64(v[0])
		}
	}
	return avg
}

// rowSize is a row's tokens from its sizes per column (event_search_docsize).
func rowSize(docsize []byte) uint64 {
	var size uint64
	for _, t := range varints(docsize) {
		size += t
	}
	return size
}

// bm25 is the rank of a row of size tokens holding each phrase freq[i]
// times, in an index of avg tokens a row. Both the SQL function and the
// ranks kept (searchrankcache.go) call this one function, not inlined, so
// that their floats are the same.
//
//go:noinline
func bm25(freq []float64, size uint64, avg float64) float64 {
	norm := bm25K1 * (1 - bm25B + bm25B*float64(size)/avg)
	score := 0.0
	for _, f := range freq {
		score += f * (bm25K1 + 1) / (f + norm)
	}
	return score
}

// varints decodes a run of SQLite varints (big-endian, seven bits a byte,
// the ninth byte whole); a truncated one ends the run.
func varints(b []byte) []uint64 {
	var out []uint64
	for len(b) > 0 {
		var v uint64
		n := 0
		for n < len(b) {
			c := b[n]
			n++
			if n == 9 {
				v = v<<8 | uint64(c)
				break
			}
			v = v<<7 | uint64(c&0x7f)
			if c < 0x80 {
				break
			}
		}
		if n == len(b) && n < 9 && b[n-1] >= 0x80 {
			break
		}
		out = append(out, v)
		b = b[n:]
	}
	return out
}
