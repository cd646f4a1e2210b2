package storage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// SchemaVersion is the schema this code expects (Synapse's SCHEMA_VERSION,
// seed 002). Raise it with every change to the schema, and add the change as
// a delta under schema/<db>/delta/<SchemaVersion>/.
const SchemaVersion = 2

// SchemaCompatVersion is the oldest SchemaVersion whose code can still use a
// database written by this code (Synapse's SCHEMA_COMPAT_VERSION). Raise it
// only with a change that older code cannot live with.
const SchemaCompatVersion = 1

// Logical databases (seed 002): "state" holds state groups, "main" all else.
const (
	LogicalMain  = "main"
	LogicalState = "state"
)

//go:embed schema
var schemaFS embed.FS

// GoDelta is a schema delta that SQL cannot express. It runs inside the
// delta's transaction.
type GoDelta func(ctx context.Context, q Queryer) error

// SchemaTree is a set of schema files and Go deltas with the versions the
// code expects. hearth has one (Schema()); tests build their own.
//
// Layout of FS, as in seed 002:
//
//	common/*.sql                      tables every physical database has
//	<db>/full/<v>.sql                 full schema of logical db at version v
//	<db>/delta/<v>/<NN><name>.sql     a delta bringing <db> to version v
//
// A Go delta is registered under "<db>/delta/<v>/<NN><name>" (no suffix) and
// runs in name order among the SQL deltas of its directory.
type SchemaTree struct {
	FS            fs.FS
	Version       int
	CompatVersion int
	GoDeltas      map[string]GoDelta
}

var hearthSchema = &SchemaTree{
	FS:            mustSub(schemaFS, "schema"),
	Version:       SchemaVersion,
	CompatVersion: SchemaCompatVersion,
	GoDeltas:      map[string]GoDelta{},
}

// Schema returns hearth's schema tree.
func Schema() *SchemaTree { return hearthSchema }

// RegisterGoDelta adds a Go delta to hearth's schema under key
// "<db>/delta/<v>/<NN><name>". Call it from an init function in the file
// that holds the delta. It panics on a malformed or repeated key, which is a
// programming error found by any test run.
func RegisterGoDelta(key string, fn GoDelta) {
	hearthSchema.register(key, fn)
}

// validDeltaKey says key has the form of a delta's key, DB/delta/VERSION/NNname:
// DB in [a-z]+, VERSION in [0-9]+, NN two digits, name in [A-Za-z0-9_]+.
func validDeltaKey(key string) bool {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[1] != "delta" || len(parts[3]) < 3 {
		return false
	}
	return allBytes(parts[0], "az") && allBytes(parts[2], "09") &&
		allBytes(parts[3][:2], "09") && allBytes(parts[3][2:], "AZaz09__")
}

// allBytes says s is not empty and each of its bytes is in one of the
// ranges, given as pairs of bytes (lowest, highest).
func allBytes(s, ranges string) bool {
	for i := range len(s) {
		in := false
		for j := 0; j+1 < len(ranges); j += 2 {
			in = in || ranges[j] <= s[i] && s[i] <= ranges[j+1]
		}
		if !in {
			return false
		}
	}
	return s != ""
}

func (t *SchemaTree) register(key string, fn GoDelta) {
	if !validDeltaKey(key) {
		panic(fmt.Sprintf("storage: malformed Go delta key %q", key))
	}
	if _, dup := t.GoDeltas[key]; dup {
		panic(fmt.Sprintf("storage: Go delta %q registered twice", key))
	}
	if t.GoDeltas == nil {
		t.GoDeltas = map[string]GoDelta{}
	}
	t.GoDeltas[key] = fn
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// delta is one step of a schema upgrade.
type delta struct {
	name string // recorded in applied_schema_deltas: "<db>/delta/<v>/<file>"
	sql  string
	fn   GoDelta
}

// fullSchema returns the newest full schema of db at or below version, and
// its version. It is an error for a logical database to have none.
func (t *SchemaTree) fullSchema(db string) (int, string, error) {
	entries, err := fs.ReadDir(t.FS, db+"/full")
	if err != nil {
		return 0, "", fmt.Errorf("schema %s: no full schema: %w", db, err)
	}
	best := -1
	for _, e := range entries {
		v, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > t.Version {
			continue
		}
		best = max(best, n)
	}
	if best < 0 {
		return 0, "", fmt.Errorf("schema %s: no full schema at or below version %d", db, t.Version)
	}
	b, err := fs.ReadFile(t.FS, fmt.Sprintf("%s/full/%d.sql", db, best))
	if err != nil {
		return 0, "", err
	}
	return best, string(b), nil
}

// common returns the SQL every physical database starts with.
func (t *SchemaTree) common() (string, error) {
	entries, err := fs.ReadDir(t.FS, "common")
	if err != nil {
		return "", fmt.Errorf("schema: common: %w", err)
	}
	var b strings.Builder
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		s, err := fs.ReadFile(t.FS, path.Join("common", e.Name()))
		if err != nil {
			return "", err
		}
		b.Write(s)
		b.WriteString("\n")
	}
	return b.String(), nil
}

// deltas returns the deltas of db for version v, in name order.
func (t *SchemaTree) deltas(db string, v int) ([]delta, error) {
	dir := fmt.Sprintf("%s/delta/%d", db, v)
	var out []delta
	entries, err := fs.ReadDir(t.FS, dir)
	if err != nil && !isNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(t.FS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, delta{name: path.Join(dir, e.Name()), sql: string(b)})
	}
	for key, fn := range t.GoDeltas {
		if strings.HasPrefix(key, dir+"/") {
			out = append(out, delta{name: key + ".go", fn: fn})
		}
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.Slice(out, func(i, j int) bool { return path.Base(out[i].name) < path.Base(out[j].name) })
	return out, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
