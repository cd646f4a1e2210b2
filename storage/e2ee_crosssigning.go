package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
)

// CrossSigningPublicKey returns the public key of a cross-signing key
// object: the value of its one "keys" member. It returns an error wrapping
// core.ErrInvalidParam for an object of another shape.
func CrossSigningPublicKey(raw []byte) (string, error) {
	var k struct {
		Keys map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &k); err != nil || len(k.Keys) != 1 {
		return "", invalid("a cross-signing key must have exactly one key in keys")
	}
	var pub string
	for _, v := range k.Keys {
		pub = v
	}
	return pub, nil
}

// StoredCrossSigningKeys implements core.CrossSigningStore.
func (s *KeyStore) StoredCrossSigningKeys(ctx context.Context, userID string) (core.CrossSigningKeys, error) {
	var keys core.CrossSigningKeys
	err := s.db.Read(ctx, func(q Queryer) error {
		var err error
		keys, _, err = storedCrossSigningKeys(ctx, q, userID)
		return err
	})
	return keys, err
}

// storedCrossSigningKeys returns userID's keys as uploaded and their public
// keys by type.
func storedCrossSigningKeys(ctx context.Context, q Queryer, userID string) (core.CrossSigningKeys, map[string]string, error) {
	var keys core.CrossSigningKeys
	pubs := map[string]string{}
	rows, err := q.QueryContext(ctx, "SELECT key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ?", userID)
	if err != nil {
		return keys, nil, fmt.Errorf("storage: cross-signing keys of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, pub, kj string
		if err := rows.Scan(&typ, &pub, &kj); err != nil {
			return keys, nil, fmt.Errorf("storage: cross-signing keys of %s: %w", userID, err)
		}
		pubs[typ] = pub
		switch typ {
		case core.CrossSigningMaster:
			keys.Master = json.RawMessage(kj)
		case core.CrossSigningSelfSigning:
			keys.SelfSigning = json.RawMessage(kj)
		case core.CrossSigningUserSigning:
			keys.UserSigning = json.RawMessage(kj)
		}
	}
	if err := rows.Err(); err != nil {
		return keys, nil, fmt.Errorf("storage: cross-signing keys of %s: %w", userID, err)
	}
	return keys, pubs, nil
}

// CrossSigningKeys implements core.CrossSigningStore.
func (s *KeyStore) CrossSigningKeys(ctx context.Context, requester string, userIDs []string) (map[string]core.CrossSigningKeys, error) {
	out := map[string]core.CrossSigningKeys{}
	err := s.db.Read(ctx, func(q Queryer) error {
		for _, userID := range userIDs {
			keys, pubs, err := storedCrossSigningKeys(ctx, q, userID)
			if err != nil {
				return err
			}
			if len(pubs) == 0 {
				continue
			}
			if userID != requester {
				keys.UserSigning = nil
			}
			sigs, err := visibleSignatures(ctx, q, requester, userID)
			if err != nil {
				return err
			}
			for _, k := range []struct {
				typ string
				raw *json.RawMessage
			}{
				{core.CrossSigningMaster, &keys.Master},
				{core.CrossSigningSelfSigning, &keys.SelfSigning},
				{core.CrossSigningUserSigning, &keys.UserSigning},
			} {
				if *k.raw == nil {
					continue
				}
				merged, err := mergeSignatures(*k.raw, sigs[pubs[k.typ]])
				if err != nil {
					return err
				}
				*k.raw = merged
			}
			if keys.Master != nil || keys.SelfSigning != nil || keys.UserSigning != nil {
				out[userID] = keys
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// visibleSignatures returns the uploaded signatures on userID's keys that
// requester may see, by target key ID. The spec lets a user see signatures
// by their own keys and devices, and signatures by other users on those
// users' own keys; never signatures by a third user's user-signing key.
func visibleSignatures(ctx context.Context, q Queryer, requester, userID string) (map[string][]core.KeySignature, error) {
	rows, err := q.QueryContext(ctx, `SELECT target_key_id, user_id, key_id, signature FROM e2e_cross_signing_signatures
		WHERE target_user_id = ? AND user_id IN (?, ?) ORDER BY target_key_id, user_id, key_id`, userID, requester, userID)
	if err != nil {
		return nil, fmt.Errorf("storage: signatures on keys of %s: %w", userID, err)
	}
	defer rows.Close()
	out := map[string][]core.KeySignature{}
	for rows.Next() {
		sg := core.KeySignature{TargetUserID: userID}
		if err := rows.Scan(&sg.TargetKeyID, &sg.SignerUserID, &sg.SignerKeyID, &sg.Signature); err != nil {
			return nil, fmt.Errorf("storage: signatures on keys of %s: %w", userID, err)
		}
		out[sg.TargetKeyID] = append(out[sg.TargetKeyID], sg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: signatures on keys of %s: %w", userID, err)
	}
	return out, nil
}

// UploadCrossSigningKeys implements core.CrossSigningStore.
func (s *KeyStore) UploadCrossSigningKeys(ctx context.Context, userID string, keys core.CrossSigningKeys) error {
	type row struct {
		typ, pub, kj string
	}
	var rows []row
	for _, k := range []struct {
		typ string
		raw json.RawMessage
	}{
		{core.CrossSigningMaster, keys.Master},
		{core.CrossSigningSelfSigning, keys.SelfSigning},
		{core.CrossSigningUserSigning, keys.UserSigning},
	} {
		if k.raw == nil {
			continue
		}
		pub, err := CrossSigningPublicKey(k.raw)
		if err != nil {
			return err
		}
		kj, err := compactJSON(k.raw)
		if err != nil {
			return err
		}
		rows = append(rows, row{k.typ, pub, kj})
	}
	if len(rows) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		for _, r := range rows {
			_, err := q.ExecContext(ctx, `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json)
				VALUES (?, ?, ?, ?) ON CONFLICT (user_id, key_type)
				DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`, userID, r.typ, r.pub, r.kj)
			if err != nil {
				return fmt.Errorf("storage: storing the %s key of %s: %w", r.typ, userID, err)
			}
		}
		// Other servers hear of the master and self-signing keys (never
		// of the user-signing key).
		for _, r := range rows {
			if r.typ == core.CrossSigningMaster || r.typ == core.CrossSigningSelfSigning {
				if err := markSigningKeysChanged(ctx, q, userID); err != nil {
					return err
				}
				break
			}
		}
		return markDeviceListChange(ctx, q, userID)
	})
}

// AddSignatures implements core.CrossSigningStore.
func (s *KeyStore) AddSignatures(ctx context.Context, sigs []core.KeySignature) error {
	if len(sigs) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		var users []string
		for _, sg := range sigs {
			_, err := q.ExecContext(ctx, `INSERT INTO e2e_cross_signing_signatures
				(target_user_id, target_key_id, user_id, key_id, signature) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (target_user_id, target_key_id, user_id, key_id) DO UPDATE SET signature = excluded.signature`,
				sg.TargetUserID, sg.TargetKeyID, sg.SignerUserID, sg.SignerKeyID, sg.Signature)
			if err != nil {
				return fmt.Errorf("storage: storing a signature on %s %s: %w", sg.TargetUserID, sg.TargetKeyID, err)
			}
			users = append(users, sg.TargetUserID, sg.SignerUserID)
			// A signature on a local device changes the keys other servers
			// were sent for it.
			var dev int
			err = q.QueryRowContext(ctx, "SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?", sg.TargetUserID, sg.TargetKeyID).Scan(&dev)
			if err == nil {
				err = markDevicesChanged(ctx, q, sg.TargetUserID, false, sg.TargetKeyID)
			}
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("storage: signature on %s %s: %w", sg.TargetUserID, sg.TargetKeyID, err)
			}
			// A user's own signature on their master or self-signing key
			// changes the m.signing_key_update other servers were sent.
			if sg.SignerUserID == sg.TargetUserID {
				err = q.QueryRowContext(ctx, `SELECT 1 FROM e2e_cross_signing_keys WHERE user_id = ? AND public_key = ?
					AND key_type IN ('master', 'self_signing')`, sg.TargetUserID, sg.TargetKeyID).Scan(&dev)
				if err == nil {
					err = markSigningKeysChanged(ctx, q, sg.TargetUserID)
				}
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("storage: signature on %s %s: %w", sg.TargetUserID, sg.TargetKeyID, err)
				}
			}
		}
		return markDeviceListChange(ctx, q, users...)
	})
}
