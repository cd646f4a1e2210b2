package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrRenamed is wrapped by ClaimServerName when the database belongs to
// another server name: a homeserver cannot be renamed, since every user ID,
// room and signature it made carries its name.
var ErrRenamed = errors.New("the database belongs to another server name")

// ErrNoServerName is returned by ServerName for a database never claimed.
var ErrNoServerName = errors.New("the database has no server name yet")

// ClaimServerName records name as the database's server name if it has
// none, and otherwise checks that name is the one recorded. An empty name
// accepts whatever is recorded. It returns the name in force.
func (db *DB) ClaimServerName(ctx context.Context, name string) (string, error) {
	var got string
	err := db.Write(ctx, func(q Queryer) error {
		stored, err := configValue(ctx, q, "server_name")
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if name == "" {
				return ErrNoServerName
			}
			_, err = q.ExecContext(ctx, "INSERT INTO server_config (key, value) VALUES ('server_name', ?)", name)
			got = name
			return err
		case err != nil:
			return err
		case name != "" && stored != name:
			return fmt.Errorf("%w: it was created for %q, not %q", ErrRenamed, stored, name)
		}
		got = stored
		return nil
	})
	return got, err
}

// ServerName returns the recorded server name, or ErrNoServerName.
func (db *DB) ServerName(ctx context.Context) (string, error) {
	v, err := configValue(ctx, db.reader, "server_name")
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNoServerName
	}
	return v, err
}

func configValue(ctx context.Context, q Queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = ?", key).Scan(&v)
	return v, err
}
