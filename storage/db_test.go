package storage

import (
	"context"
	"testing"
)

func TestOpenCreatesSchema(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	var v, compat int
	err := db.Read(ctx, func(q Queryer) error {
		if err := q.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, "SELECT compat_version FROM schema_compat_version").Scan(&compat)
	})
	if err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion || compat != SchemaCompatVersion {
		t.Errorf("schema version %d compat %d, want %d and %d", v, compat, SchemaVersion, SchemaCompatVersion)
	}
}
