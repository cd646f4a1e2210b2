package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
)

// BenchmarkClaimKeys measures claiming one one-time key (uploads of 50
// keys refill the device when it runs out).
func BenchmarkClaimKeys(b *testing.B) {
	ctx := context.Background()
	db := mustOpen(b)
	ks := NewKeyStore(db)
	mustDevice(b, db, "@a:x", "D", "")
	claim := map[string]map[string]string{"@a:x": {"D": "signed_curve25519"}}
	n := 0
	for b.Loop() {
		if n%50 == 0 {
			keys := make(map[string]json.RawMessage, 50)
			for i := range 50 {
				keys[fmt.Sprintf("signed_curve25519:K%d", n+i)] = otk(fmt.Sprint(n + i))
			}
			if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{OneTimeKeys: keys}); err != nil {
				b.Fatal(err)
			}
		}
		got, err := ks.ClaimKeys(ctx, claim)
		if err != nil || len(got["@a:x"]["D"]) != 1 {
			b.Fatalf("ClaimKeys = %v, %v", got, err)
		}
		n++
	}
}

// BenchmarkQueryDeviceKeys measures /keys/query's read of a user with ten
// devices, each with a signature to merge.
func BenchmarkQueryDeviceKeys(b *testing.B) {
	ctx := context.Background()
	db := mustOpen(b)
	ks := NewKeyStore(db)
	var sigs []core.KeySignature
	for i := range 10 {
		dev := fmt.Sprintf("D%d", i)
		mustDevice(b, db, "@a:x", dev, "Device "+dev)
		if _, err := ks.UploadKeys(ctx, "@a:x", dev, core.KeyUpload{DeviceKeys: deviceKeysJSON("@a:x", dev, "ed"+dev)}); err != nil {
			b.Fatal(err)
		}
		sigs = append(sigs, core.KeySignature{SignerUserID: "@a:x", SignerKeyID: "ed25519:ssk", TargetUserID: "@a:x", TargetKeyID: dev, Signature: "s"})
	}
	if err := ks.AddSignatures(ctx, sigs); err != nil {
		b.Fatal(err)
	}
	query := map[string][]string{"@a:x": nil}
	for b.Loop() {
		got, err := ks.QueryDeviceKeys(ctx, "@b:x", query)
		if err != nil || len(got["@a:x"]) != 10 {
			b.Fatalf("QueryDeviceKeys = %d devices, %v", len(got["@a:x"]), err)
		}
	}
}

// BenchmarkUploadKeysHeld measures /keys/upload of five one-time keys (as
// the soak's clients do) for a device that already holds 10,000 unclaimed
// ones; the answer carries the device's counts.
func BenchmarkUploadKeysHeld(b *testing.B) {
	ctx := context.Background()
	ks, held := keysHeld(b, 10_000)
	n := held
	for b.Loop() {
		keys := make(map[string]json.RawMessage, 5)
		for range 5 {
			keys[fmt.Sprintf("signed_curve25519:K%d", n)] = otk(fmt.Sprint(n))
			n++
		}
		counts, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{OneTimeKeys: keys})
		if err != nil || counts["signed_curve25519"] != n {
			b.Fatalf("UploadKeys = %v, %v; want %d keys", counts, err, n)
		}
	}
}

// BenchmarkOneTimeKeyCountsHeld measures the counts /sync reads for a
// device that holds 10,000 unclaimed one-time keys.
func BenchmarkOneTimeKeyCountsHeld(b *testing.B) {
	ctx := context.Background()
	ks, held := keysHeld(b, 10_000)
	for b.Loop() {
		counts, err := ks.OneTimeKeyCounts(ctx, "@a:x", "D")
		if err != nil || counts["signed_curve25519"] != held {
			b.Fatalf("OneTimeKeyCounts = %v, %v; want %d keys", counts, err, held)
		}
	}
}

// keysHeld returns the key store of a new database whose device @a:x D
// holds n unclaimed signed_curve25519 keys, and n.
func keysHeld(b *testing.B, n int) (*KeyStore, int) {
	b.Helper()
	ctx := context.Background()
	db := mustOpen(b)
	ks := NewKeyStore(db)
	mustDevice(b, db, "@a:x", "D", "")
	for i := 0; i < n; i += 500 {
		keys := make(map[string]json.RawMessage, 500)
		for j := i; j < min(i+500, n); j++ {
			keys[fmt.Sprintf("signed_curve25519:K%d", j)] = otk(fmt.Sprint(j))
		}
		if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{OneTimeKeys: keys}); err != nil {
			b.Fatal(err)
		}
	}
	return ks, n
}
