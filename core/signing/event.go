package signing

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// KeyLookup returns the public key keyID of server. atTS is the time, in
// milliseconds since the epoch, at which the key must have been valid: the
// event's origin_server_ts in room versions that enforce key validity (5
// and later; the caller caps a key's valid_until_ts at 7 days into the
// future as those versions require), 0 when any key the server ever had
// will do. A key that is unknown or was not valid at atTS is reported by an
// error wrapping ErrKeyNotFound; any other error stops the verification.
type KeyLookup func(server, keyID string, atTS int64) (ed25519.PublicKey, error)

// SignEvent adds the content hash and serverName's signature to p: it sets
// hashes.sha256 to the event's content hash, redacts the event by room
// version v's rules, signs that, and adds the signature under
// signatures[serverName][keyID]. Other hash algorithms and signatures
// already present are kept.
func SignEvent(v *roomversion.Version, p *pdu.PDU, serverName, keyID string, priv ed25519.PrivateKey) error {
	_, err := signEvent(v, p, serverName, keyID, priv)
	return err
}

// SignEventWithID is SignEvent that also sets p.EventID in the room
// versions whose event IDs are reference hashes (3 and later): the
// reference hash is the SHA-256 of the very bytes the signature covers
// (the redacted event without signatures and unsigned), so they are made
// once for both. In versions 1 and 2, p.EventID is left as it is.
func SignEventWithID(v *roomversion.Version, p *pdu.PDU, serverName, keyID string, priv ed25519.PrivateKey) error {
	signed, err := signEvent(v, p, serverName, keyID, priv)
	if err != nil {
		return err
	}
	if v.EventFormat != roomversion.FormatV1 {
		p.EventID = pdu.EventIDFromReferenceHash(v, sha256.Sum256(signed))
	}
	return nil
}

// signEvent is SignEvent; it returns the bytes it signed.
func signEvent(v *roomversion.Version, p *pdu.PDU, serverName, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	h, err := p.ContentHash(v)
	if err != nil {
		return nil, err
	}
	if p.Hashes == nil {
		p.Hashes = &pdu.Hashes{}
	}
	p.Hashes.SHA256 = EncodeBase64(h[:])
	signed, err := eventSignedBytes(v, p)
	if err != nil {
		return nil, err
	}
	sig := EncodeBase64(ed25519.Sign(priv, signed))
	if p.Signatures == nil {
		p.Signatures = map[string]map[string]string{}
	}
	if p.Signatures[serverName] == nil {
		p.Signatures[serverName] = map[string]string{}
	}
	p.Signatures[serverName][keyID] = sig
	return signed, nil
}

// SignEventJSON is SignEvent on event JSON: it returns the event, as
// canonical JSON, with hashes.sha256 set and the signature added. The
// event format is not checked.
func SignEventJSON(v *roomversion.Version, event []byte, serverName, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	o, err := parseObject(event, pdu.Mode(v))
	if err != nil {
		return nil, err
	}
	h, err := pdu.ContentHashJSON(v, o.appendJSON(nil))
	if err != nil {
		return nil, err
	}
	hashes := &object{}
	if raw := o.get("hashes"); raw != nil && raw[0] == '{' {
		if hashes, err = splitObject(raw); err != nil {
			return nil, err
		}
	}
	hashes.set("sha256", canonicaljson.AppendString(nil, EncodeBase64(h[:])))
	o.set("hashes", hashes.appendJSON(nil))
	redacted, err := pdu.RedactJSON(v, o.appendJSON(nil))
	if err != nil {
		return nil, err
	}
	r, err := splitObject(redacted)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, r.signedBytes())
	sigs, err := o.addSignature(serverName, keyID, EncodeBase64(sig))
	if err != nil {
		return nil, err
	}
	o.set("signatures", sigs)
	return o.appendJSON(nil), nil
}

// eventSignedBytes is what an event signature covers: the canonical JSON
// of the redacted event without signatures and unsigned.
func eventSignedBytes(v *roomversion.Version, p *pdu.PDU) ([]byte, error) {
	return p.AppendSignedBytes(make([]byte, 0, 512), v)
}

// RequiredSigners returns the servers whose signatures event p must carry
// in room version v ("Validating hashes and signatures on received
// events"):
//
//   - the server of the sender, except for an invite made from a
//     third-party invite, which the sender's server need not have signed;
//   - in room versions 1 and 2, the server named in the event ID;
//   - in room versions with restricted joins (8 and later), for an
//     m.room.member event whose content has join_authorised_via_users_server,
//     the server of that user (auth rule 5.2 of those versions).
//
// The result has no duplicates and may be empty only for a third-party
// invite in room version 3 or later.
func RequiredSigners(v *roomversion.Version, p *pdu.PDU) ([]string, error) {
	var servers []string
	add := func(s string) {
		if !slices.Contains(servers, s) {
			servers = append(servers, s)
		}
	}
	sender, err := id.ParseUserID(p.Sender)
	if err != nil {
		return nil, err
	}
	var content struct {
		Membership       string          `json:"membership"`
		ThirdPartyInvite json.RawMessage `json:"third_party_invite"`
		Authoriser       json.RawMessage `json:"join_authorised_via_users_server"`
	}
	isMember := p.Type == "m.room.member"
	if isMember {
		// Content was validated on parse; a content that is not an object
		// simply names no authoriser.
		_ = json.Unmarshal(p.Content, &content)
	}
	if !(isMember && content.Membership == "invite" && content.ThirdPartyInvite != nil) {
		add(string(sender.ServerName()))
	}
	if v.EventFormat == roomversion.FormatV1 {
		server, ok := id.EventID(p.EventID).ServerName()
		if !ok {
			return nil, fmt.Errorf("%w: event ID %q has no server name", pdu.ErrInvalidEvent, p.EventID)
		}
		add(string(server))
	}
	if v.Restricted && isMember && content.Authoriser != nil {
		var user string
		if json.Unmarshal(content.Authoriser, &user) == nil {
			if u, err := id.ParseUserID(user); err == nil {
				add(string(u.ServerName()))
			}
		}
	}
	return servers, nil
}

// VerifyEvent checks the signatures of event p in room version v: each
// server of RequiredSigners must have signed the redacted event with at
// least one key that lookup finds, and every such signature must verify.
// Signatures by keys lookup does not find are skipped. A third-party
// invite that needs no particular signer must still carry one valid
// signature from some server. It returns an error wrapping
// ErrMissingSignature or ErrBadSignature, or the lookup's own error.
//
// It does not check the content hash: see (*pdu.PDU).CheckContentHash.
func VerifyEvent(v *roomversion.Version, p *pdu.PDU, lookup KeyLookup) error {
	servers, err := RequiredSigners(v, p)
	if err != nil {
		return err
	}
	signed, err := eventSignedBytes(v, p)
	if err != nil {
		return err
	}
	atTS := int64(0)
	if v.EnforceKeyValidity {
		atTS = p.OriginServerTS
	}
	if len(servers) == 0 {
		for server := range p.Signatures {
			if verifyServer(signed, p.Signatures[server], server, atTS, lookup) == nil {
				return nil
			}
		}
		return fmt.Errorf("%w: no valid signature on a third-party invite", ErrMissingSignature)
	}
	for _, server := range servers {
		if err := verifyServer(signed, p.Signatures[server], server, atTS, lookup); err != nil {
			return err
		}
	}
	return nil
}

// VerifyEventSignedBy checks that event p carries a valid signature by
// server (for the auth rule on join_authorised_via_users_server), with the
// same rules as VerifyEvent.
func VerifyEventSignedBy(v *roomversion.Version, p *pdu.PDU, server string, lookup KeyLookup) error {
	signed, err := eventSignedBytes(v, p)
	if err != nil {
		return err
	}
	atTS := int64(0)
	if v.EnforceKeyValidity {
		atTS = p.OriginServerTS
	}
	return verifyServer(signed, p.Signatures[server], server, atTS, lookup)
}

// verifyServer checks server's signatures over signed: at least one by a
// key lookup finds, and all of those valid.
func verifyServer(signed []byte, sigs map[string]string, server string, atTS int64, lookup KeyLookup) error {
	keyIDs := make([]string, 0, len(sigs))
	for keyID := range sigs {
		// Step 2: drop key IDs of algorithms this server does not know.
		if strings.HasPrefix(keyID, "ed25519:") {
			keyIDs = append(keyIDs, keyID)
		}
	}
	slices.Sort(keyIDs)
	verified := 0
	for _, keyID := range keyIDs {
		pub, err := lookup(server, keyID, atTS)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("signing: key %s of %s: %w", keyID, server, err)
		}
		if err := verify(pub, signed, sigs[keyID], server, keyID); err != nil {
			return err
		}
		verified++
	}
	if verified == 0 {
		return fmt.Errorf("%w: no signature by %s with a known key", ErrMissingSignature, server)
	}
	return nil
}
