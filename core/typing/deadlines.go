package typing

import "time"

// deadline is when userID stops typing in roomID unless they say more.
type deadline struct {
	at     time.Time
	roomID string
	userID string
}

// deadlines is a binary min-heap of deadlines by time: the earliest is at
// index 0. (Written out rather than through container/heap, whose
// interface boxes every pushed and popped element.)
type deadlines []deadline

func (h deadlines) less(i, j int) bool { return h[i].at.Before(h[j].at) }

func (h *deadlines) push(d deadline) {
	*h = append(*h, d)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes and returns the earliest deadline; h must not be empty.
func (h *deadlines) pop() deadline {
	s := *h
	d := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = deadline{}
	s = s[:n]
	s.down(0)
	*h = s
	return d
}

func (h deadlines) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// init orders h as a heap.
func (h deadlines) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}
