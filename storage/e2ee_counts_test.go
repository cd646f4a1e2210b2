package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// keyCount is a device's count of one algorithm's unclaimed keys.
type keyCount struct{ user, device, alg string }

// countedKeys counts the unclaimed one-time keys of every device afresh.
func countedKeys(t *testing.T, db *DB) map[keyCount]int {
	t.Helper()
	return keyCountRows(t, db, `SELECT user_id, device_id, algorithm, COUNT(*) FROM e2e_one_time_keys
		GROUP BY user_id, device_id, algorithm`)
}

// keptKeyCounts reads the kept counts, the rows of 0 left out.
func keptKeyCounts(t *testing.T, db *DB) map[keyCount]int {
	t.Helper()
	return keyCountRows(t, db, `SELECT user_id, device_id, algorithm, key_count FROM e2e_one_time_key_counts
		WHERE key_count <> 0`)
}

func keyCountRows(t *testing.T, db *DB, query string) map[keyCount]int {
	t.Helper()
	rows, err := db.Reader().QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[keyCount]int{}
	for rows.Next() {
		var k keyCount
		var n int
		if err := rows.Scan(&k.user, &k.device, &k.alg, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOneTimeKeyCountsKept makes random uploads (some of keys already
// held, some refused half-way), claims, device deletions (one device, all
// but one, all of a user) and new devices of the same IDs, and checks
// after each that the kept counts equal a fresh count of the keys, and
// that OneTimeKeyCounts and UploadKeys answer them.
func TestOneTimeKeyCountsKept(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	accounts := NewAccountStore(db, AccountOptions{})
	rng := rand.New(rand.NewPCG(14, 33))
	users := []string{"@a:x", "@b:x"}
	devices := []string{"D1", "D2", "D3"}
	algs := []string{"signed_curve25519", "curve25519", "org.example.alg"}
	exists := map[[2]string]bool{}
	ensure := func(user, dev string) {
		if !exists[[2]string{user, dev}] {
			mustDevice(t, db, user, dev, "")
			exists[[2]string{user, dev}] = true
		}
	}
	check := func(step int, what string) {
		t.Helper()
		want := countedKeys(t, db)
		if diff := cmp.Diff(want, keptKeyCounts(t, db)); diff != "" {
			t.Fatalf("step %d (%s): kept counts differ from a fresh count (-fresh +kept):\n%s", step, what, diff)
		}
		var negative int
		if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM e2e_one_time_key_counts WHERE key_count < 0").Scan(&negative); err != nil || negative != 0 {
			t.Fatalf("step %d (%s): %d negative counts, %v", step, what, negative, err)
		}
		for _, u := range users {
			for _, d := range devices {
				got, err := ks.OneTimeKeyCounts(ctx, u, d)
				if err != nil {
					t.Fatal(err)
				}
				w := map[string]int{}
				for k, n := range want {
					if k.user == u && k.device == d {
						w[k.alg] = n
					}
				}
				if diff := cmp.Diff(w, got); diff != "" {
					t.Fatalf("step %d (%s): OneTimeKeyCounts(%s, %s) (-want +got):\n%s", step, what, u, d, diff)
				}
			}
		}
	}
	claims, deletions, refused := 0, 0, 0
	for step := range 600 {
		user, dev, alg := users[rng.IntN(len(users))], devices[rng.IntN(len(devices))], algs[rng.IntN(len(algs))]
		var what string
		switch r := rng.IntN(20); {
		case r < 9: // upload; key IDs repeat, so some keys are held already
			ensure(user, dev)
			keys := map[string]json.RawMessage{}
			for range 1 + rng.IntN(8) {
				id := rng.IntN(40)
				keys[fmt.Sprintf("%s:K%d", algs[rng.IntN(len(algs))], id)] = otk(fmt.Sprint(id))
			}
			if rng.IntN(6) == 0 {
				// A held key's ID with other content: the whole upload is refused.
				keys[alg+":K0"] = otk("other")
			}
			counts, err := ks.UploadKeys(ctx, user, dev, core.KeyUpload{OneTimeKeys: keys})
			what = fmt.Sprintf("upload of %d keys to %s %s", len(keys), user, dev)
			if err != nil {
				refused++
				what += " (refused)"
				break
			}
			check(step, what)
			want := map[string]int{}
			for k, n := range countedKeys(t, db) {
				if k.user == user && k.device == dev {
					want[k.alg] = n
				}
			}
			if diff := cmp.Diff(want, counts); diff != "" {
				t.Fatalf("step %d: UploadKeys answered (-want +got):\n%s", step, diff)
			}
		case r < 17: // claims of several devices at once
			claim := map[string]map[string]string{user: {dev: alg}}
			other := users[rng.IntN(len(users))]
			if claim[other] == nil {
				claim[other] = map[string]string{}
			}
			claim[other][devices[rng.IntN(len(devices))]] = algs[rng.IntN(len(algs))]
			if _, err := ks.ClaimKeys(ctx, claim); err != nil {
				t.Fatal(err)
			}
			claims++
			what = fmt.Sprintf("claim %v", claim)
		case r < 18:
			if err := accounts.DeleteDevices(ctx, user, []string{dev}); err != nil {
				t.Fatal(err)
			}
			delete(exists, [2]string{user, dev})
			deletions++
			what = "delete " + user + " " + dev
		case r < 19: // log out everywhere else, keeping dev
			err := db.Write(ctx, func(q Queryer) error {
				return deleteDevicesWhere(ctx, q, user, " AND device_id != ?", dev)
			})
			if err != nil {
				t.Fatal(err)
			}
			for k := range exists {
				if k[0] == user && k[1] != dev {
					delete(exists, k)
				}
			}
			deletions++
			what = "delete all of " + user + " but " + dev
		default:
			if err := accounts.LogoutAll(ctx, user); err != nil {
				t.Fatal(err)
			}
			for k := range exists {
				if k[0] == user {
					delete(exists, k)
				}
			}
			deletions++
			what = "log out all of " + user
		}
		check(step, what)
	}
	if claims == 0 || deletions == 0 || refused == 0 || len(countedKeys(t, db)) == 0 {
		t.Errorf("the walk did not reach every case: %d claims, %d deletions, %d refused uploads, keys %v",
			claims, deletions, refused, countedKeys(t, db))
	}
}

// TestMigrateOneTimeKeyCounts opens a version-2 database written before
// delta 2/33 whose devices hold one-time keys: the delta fills the counts
// from the keys held, and they are kept from then on.
func TestMigrateOneTimeKeyCounts(t *testing.T) {
	ctx := context.Background()
	const delta = "main/delta/2/33e2e_one_time_key_counts.sql"
	o := testOptions(t)
	old := openBefore(t, o, delta)
	// The old code counted the keys: they are written here as it wrote them.
	insert := func(db *DB, user, dev string, from, n int) {
		t.Helper()
		err := db.Write(ctx, func(q Queryer) error {
			for i := from; i < from+n; i++ {
				_, err := q.ExecContext(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
					VALUES (?, ?, 'signed_curve25519', ?, ?)`, user, dev, fmt.Sprintf("K%d", i), string(otk(fmt.Sprint(i))))
				if err != nil {
					return err
				}
			}
			_, err := q.ExecContext(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
				VALUES (?, ?, 'curve25519', ?, '"c"')`, user, dev, fmt.Sprintf("C%d", from))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustDevice(t, old, "@a:x", "D1", "")
	mustDevice(t, old, "@a:x", "D2", "")
	mustDevice(t, old, "@b:x", "D1", "")
	insert(old, "@a:x", "D1", 0, 30)
	insert(old, "@a:x", "D2", 0, 3)
	insert(old, "@b:x", "D1", 100, 7)
	err := old.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, `DELETE FROM e2e_one_time_keys WHERE user_id = '@a:x'
			AND ((device_id = 'D1' AND key_id = 'K0') OR (device_id = 'D2' AND algorithm = 'curve25519'))`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := countedKeys(t, old)
	old.Close()

	db := mustOpenMigrated(t, o, delta)
	if diff := cmp.Diff(want, keptKeyCounts(t, db)); diff != "" {
		t.Fatalf("counts after migrating (-fresh +kept):\n%s", diff)
	}
	ks := NewKeyStore(db)
	got, err := ks.OneTimeKeyCounts(ctx, "@a:x", "D1")
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 29, "curve25519": 1}, got); err != nil || diff != "" {
		t.Errorf("OneTimeKeyCounts(@a:x D1) after migrating: %v (-want +got):\n%s", err, diff)
	}
	got, err = ks.OneTimeKeyCounts(ctx, "@a:x", "D2")
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 3}, got); err != nil || diff != "" {
		t.Errorf("OneTimeKeyCounts(@a:x D2) after migrating: %v (-want +got):\n%s", err, diff)
	}
	if _, err := ks.UploadKeys(ctx, "@b:x", "D1", core.KeyUpload{OneTimeKeys: map[string]json.RawMessage{
		"signed_curve25519:K200": otk("200"), "curve25519:C200": json.RawMessage(`"c"`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.ClaimKeys(ctx, map[string]map[string]string{"@a:x": {"D1": "curve25519"}}); err != nil {
		t.Fatal(err)
	}
	if err := NewAccountStore(db, AccountOptions{}).DeleteDevices(ctx, "@a:x", []string{"D2"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(countedKeys(t, db), keptKeyCounts(t, db)); diff != "" {
		t.Errorf("counts kept after migrating (-fresh +kept):\n%s", diff)
	}
}
