package vfstest

import (
	"fmt"
	"testing"
)

// BenchmarkInsert measures inserts per second on vfsName with the storage
// PRAGMAs: one row per transaction (each a commit, as a client's send is),
// the same with synchronous=FULL (each commit made durable), and 100 rows
// per transaction.
func BenchmarkInsert(b *testing.B, vfsName string) {
	cases := []struct {
		name    string
		batch   int
		pragmas []string
	}{
		{"commit", 1, WAL},
		{"commit-full", 1, append(WAL[:len(WAL):len(WAL)], "synchronous(full)")},
		{"batch100", 100, WAL},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			db := Open(b, vfsName, Fresh(b, vfsName), bc.pragmas...)
			mustExec(b, db, "CREATE TABLE events (id INTEGER PRIMARY KEY, room TEXT NOT NULL, body TEXT NOT NULL)")
			body := fmt.Sprintf(`{"type":"m.room.message","content":{"msgtype":"m.text","body":%q}}`, "hello from a benchmark, a message of a realistic length for a chat")
			b.ResetTimer()
			for i := 0; i < b.N; i += bc.batch {
				tx, err := db.Begin()
				if err != nil {
					b.Fatalf("Begin: %v", err)
				}
				for j := i; j < min(i+bc.batch, b.N); j++ {
					if _, err := tx.Exec("INSERT INTO events (room, body) VALUES (?, ?)", "!room:hearth.test", body); err != nil {
						b.Fatalf("insert: %v", err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatalf("Commit: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
			if got := queryInt(b, db, "SELECT count(*) FROM events"); got != int64(b.N) {
				b.Fatalf("count(*) = %d, want %d", got, b.N)
			}
		})
	}
}
