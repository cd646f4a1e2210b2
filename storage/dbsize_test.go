package storage

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// traced records the SQL of the statements SQLite starts on connections
// opened after traceStatements was first called, while tracing is on.
var traced struct {
	once sync.Once
	mu   sync.Mutex
	on   bool
	sql  []string
}

// traceStatements makes every SQLite connection opened from now on record
// the statements it starts between startTrace and stopTrace.
func traceStatements() {
	traced.once.Do(func() {
		sqlite3.AutoExtension(func(c *sqlite3.Conn) error {
			return c.Trace(sqlite3.TRACE_STMT, func(_ sqlite3.TraceEvent, _, sql any) error {
				traced.mu.Lock()
				defer traced.mu.Unlock()
				if s, ok := sql.(string); ok && traced.on {
					traced.sql = append(traced.sql, s)
				}
				return nil
			})
		})
	})
}

func startTrace() {
	traced.mu.Lock()
	traced.on, traced.sql = true, nil
	traced.mu.Unlock()
}

func stopTrace() []string {
	traced.mu.Lock()
	defer traced.mu.Unlock()
	traced.on = false
	return traced.sql
}

// TestSizeUsesNoVirtualTable: Size runs on every start of the tab (its
// status), before the first answer, so it must not reach SQLite's
// virtual-table code (V8 compiles each SQLite path on its first use):
// none of the statements it runs has a virtual-table opcode in its plan.
func TestSizeUsesNoVirtualTable(t *testing.T) {
	traceStatements()
	ctx := context.Background()
	db := mustOpenWith(t, testOptions(t))
	if _, err := db.ClaimServerName(ctx, "size.test"); err != nil {
		t.Fatal(err)
	}
	startTrace()
	size, err := db.Size(ctx)
	stmts := stopTrace()
	if err != nil {
		t.Fatal(err)
	}
	if size <= 0 || len(stmts) == 0 {
		t.Fatalf("Size = %d after %d statements", size, len(stmts))
	}
	checkNoVirtualTable(t, db, stmts)
}

// TestOpenUsesNoVirtualTable: nothing an open of an existing database runs
// reaches SQLite's virtual-table code either (the tab opens one at every
// reload, before its first answer).
func TestOpenUsesNoVirtualTable(t *testing.T) {
	traceStatements()
	o := testOptions(t)
	first, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	startTrace()
	db, err := Open(context.Background(), o)
	stmts := stopTrace()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if len(stmts) == 0 {
		t.Fatal("the open ran no statement")
	}
	checkNoVirtualTable(t, db, stmts)
}

// checkNoVirtualTable fails t if a plan of stmts has a virtual-table
// opcode.
func checkNoVirtualTable(t *testing.T, db *DB, stmts []string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range stmts {
		args := make([]any, strings.Count(s, "?"))
		for i := range args {
			args[i] = "main"
		}
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN "+s, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", s, err)
		}
		for rows.Next() {
			var addr int
			var op string
			var p1, p2, p3 any
			var p4, p5, comment any
			if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(op, "V") && op != "Variable" {
				t.Errorf("%s: virtual-table opcode %s", s, op)
			}
		}
		rows.Close()
	}
}
