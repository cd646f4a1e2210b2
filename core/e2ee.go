package core

import (
	"context"
	"encoding/json"
)

// The errors of the end-to-end encryption endpoints.
var (
	// ErrWrongRoomKeysVersion is sent when keys are written to a backup
	// version that is not the current one; storage adds the current version
	// as current_version (WithExtra).
	ErrWrongRoomKeysVersion = newError("M_WRONG_ROOM_KEYS_VERSION", 403, "Wrong backup version")
	// ErrInvalidSignature: a cross-signing key or signature does not verify.
	ErrInvalidSignature = newError("M_INVALID_SIGNATURE", 400, "Invalid signature")
)

// KeyUpload is what one device publishes with POST /keys/upload. Keys are
// kept as the JSON the client sent.
type KeyUpload struct {
	// DeviceKeys is the device's signed identity key object; nil leaves the
	// stored one unchanged.
	DeviceKeys json.RawMessage
	// OneTimeKeys and FallbackKeys map "<algorithm>:<key_id>" to the key (a
	// string or a signed key object).
	OneTimeKeys  map[string]json.RawMessage
	FallbackKeys map[string]json.RawMessage
}

// DeviceKeyStore keeps the end-to-end encryption keys of local devices:
// identity keys, one-time keys and fallback keys.
type DeviceKeyStore interface {
	// UploadKeys stores up for the device and returns, per algorithm, how
	// many of its one-time keys are unclaimed. New or changed identity keys
	// are a device list change. A fallback key replaces the device's
	// fallback key of that algorithm. It returns an error wrapping
	// ErrInvalidParam when a one-time key ID already held has other content,
	// or a key name is not "<algorithm>:<key_id>".
	UploadKeys(ctx context.Context, userID, deviceID string, up KeyUpload) (map[string]int, error)
	// QueryDeviceKeys returns the identity keys of the devices in query (user
	// ID to device IDs; an empty list means all the user's devices), as user
	// ID → device ID → key object, with the signatures from
	// CrossSigningStore.AddSignatures that requester may see merged in, and
	// the device's display name, if it has one, as
	// unsigned.device_display_name. Users and devices without keys are left
	// out; it is not an error.
	QueryDeviceKeys(ctx context.Context, requester string, query map[string][]string) (map[string]map[string]json.RawMessage, error)
	// ClaimKeys hands out one key per requested device and algorithm (user
	// ID → device ID → algorithm): the oldest unclaimed one-time key, which
	// is deleted, or else the fallback key, which is marked used. The result
	// is user ID → device ID → "<algorithm>:<key_id>" → key; devices with
	// no key of the algorithm are left out.
	ClaimKeys(ctx context.Context, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error)
	// OneTimeKeyCounts returns, per algorithm, the device's unclaimed
	// one-time keys (algorithms with none are absent).
	OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error)
	// UnusedFallbackKeyTypes returns the algorithms of the device's fallback
	// keys that have not been claimed, sorted; never nil.
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)
}

// Cross-signing key types (usage values, and the names stored).
const (
	CrossSigningMaster      = "master"
	CrossSigningSelfSigning = "self_signing"
	CrossSigningUserSigning = "user_signing"
)

// CrossSigningKeys are a user's cross-signing key objects as uploaded
// (nil when absent).
type CrossSigningKeys struct {
	Master      json.RawMessage
	SelfSigning json.RawMessage
	UserSigning json.RawMessage
}

// KeySignature is one signature uploaded with /keys/signatures/upload:
// SignerUserID's key SignerKeyID ("ed25519:<device ID or public key>")
// signed TargetUserID's key TargetKeyID (a device ID, or the public key of
// a cross-signing key).
type KeySignature struct {
	SignerUserID string
	SignerKeyID  string
	TargetUserID string
	TargetKeyID  string
	Signature    string
}

// CrossSigningStore keeps local users' cross-signing keys and the
// signatures uploaded for device and cross-signing keys.
type CrossSigningStore interface {
	// CrossSigningKeys returns the cross-signing keys of userIDs that
	// requester may see: master and self-signing keys of everyone, the
	// user-signing key only of requester themself. Uploaded signatures are
	// merged in when their signer is requester or the key's owner (the
	// spec's "servers will only allow users to see" list). Users with no
	// keys are absent.
	CrossSigningKeys(ctx context.Context, requester string, userIDs []string) (map[string]CrossSigningKeys, error)
	// StoredCrossSigningKeys returns userID's keys exactly as uploaded,
	// without merged signatures, for comparison and verification.
	StoredCrossSigningKeys(ctx context.Context, userID string) (CrossSigningKeys, error)
	// UploadCrossSigningKeys stores the non-nil keys of keys for userID,
	// replacing those of the same type, and records a device list change.
	// The caller has validated and authorised the upload.
	UploadCrossSigningKeys(ctx context.Context, userID string, keys CrossSigningKeys) error
	// AddSignatures stores verified signatures (replacing one by the same
	// signer key on the same target) and records a device list change for
	// each target user and each signer.
	AddSignatures(ctx context.Context, sigs []KeySignature) error
}

// DeviceLists is the device_lists part of a /sync response.
type DeviceLists struct {
	// Changed users updated their devices or cross-signing keys.
	Changed []string `json:"changed,omitempty"`
	// Left users no longer share a room with the syncing user.
	Left []string `json:"left,omitempty"`
}

// SharedRoomUsersFunc returns the users that share a joined room with
// userID, for device list changes.
type SharedRoomUsersFunc func(ctx context.Context, userID string) ([]string, error)

// DeviceListStore is the device list stream: positions at which local
// users' devices or keys changed.
type DeviceListStore interface {
	// DeviceListPosition returns the stream's current position (0 before
	// any change).
	DeviceListPosition(ctx context.Context) (int64, error)
	// DeviceListChanges returns the users whose devices or keys changed at
	// a position in (since, to] and who are userID themself or share a room
	// with userID, sorted. Left is not filled: it follows from membership
	// changes, which the caller sees in the room stream.
	DeviceListChanges(ctx context.Context, userID string, since, to int64) (DeviceLists, error)
}

// DeviceListStreamIDs numbers the changes of local users' devices that
// other servers are told of (the stream_id of m.device_list_update).
type DeviceListStreamIDs interface {
	// DeviceListStreamID returns the stream_id of the newest change of
	// userID's devices (0 when none was recorded): GET /user/devices
	// answers it, and the user's next m.device_list_update names it in
	// prev_id.
	DeviceListStreamID(ctx context.Context, userID string) (int64, error)
}

// RemoteDeviceLists records other servers' users' device list changes.
type RemoteDeviceLists interface {
	// RemoteDeviceListChanged records that userID's devices or
	// cross-signing keys changed, as a device list change local users who
	// share a room with them see.
	RemoteDeviceListChanged(ctx context.Context, userID string) error
}

// DeviceListUpdate is the content of an m.device_list_update EDU: a change
// of one device of a server's user, as the outbound queue sends it and as
// another server's arrives.
type DeviceListUpdate struct {
	UserID      string          `json:"user_id"`
	DeviceID    string          `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	StreamID    int64           `json:"stream_id"`
	PrevID      []int64         `json:"prev_id"`
	Deleted     bool            `json:"deleted,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
}

// RemoteDeviceUpdates is a RemoteDeviceLists that applies an
// m.device_list_update to the cached keys of its user when it follows the
// last update seen (its prev_id names that one's stream_id), and otherwise
// drops them as RemoteDeviceListChanged does.
type RemoteDeviceUpdates interface {
	RemoteDeviceUpdate(ctx context.Context, u DeviceListUpdate) error
}

// ToDeviceMessage is a to-device message as /sync delivers it.
type ToDeviceMessage struct {
	// Pos is its position in the to-device stream.
	Pos     int64           `json:"-"`
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// ToDeviceTarget is one device a to-device message goes to; DeviceID "*"
// means all the user's devices.
type ToDeviceTarget struct {
	UserID   string
	DeviceID string
	Content  json.RawMessage
}

// ToDeviceStore queues to-device messages for local devices until they
// are delivered.
type ToDeviceStore interface {
	// SendToDevice queues one message of eventType from txn's user for each
	// target that is an existing device ("*": each of the user's devices),
	// at increasing stream positions, unless txn was already used by the
	// sending device for eventType (the transaction's scope is the device
	// and the request path): then it queues nothing and returns false.
	// Targets that are no device are skipped.
	SendToDevice(ctx context.Context, txn TxnID, eventType string, targets []ToDeviceTarget) (bool, error)
	// ToDevicePosition returns the stream's current position.
	ToDevicePosition(ctx context.Context) (int64, error)
	// ToDeviceSince returns the device's messages after position since, in
	// order, at most limit of them, and the position a next sync should
	// continue from: the last message's when limit was reached, else the
	// stream's current position.
	ToDeviceSince(ctx context.Context, userID, deviceID string, since int64, limit int) ([]ToDeviceMessage, int64, error)
	// DeleteToDeviceUpTo deletes the device's messages at positions up to
	// and including upTo: the device has received them (it synced with a
	// token past them).
	DeleteToDeviceUpTo(ctx context.Context, userID, deviceID string, upTo int64) error
}

// KeyBackupVersion describes one server-side key backup.
type KeyBackupVersion struct {
	Version   string          `json:"version"`
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	ETag      string          `json:"etag"`
}

// RoomKeyBackup is one backed-up megolm session key (KeyBackupData).
type RoomKeyBackup struct {
	FirstMessageIndex int64           `json:"first_message_index"`
	ForwardedCount    int64           `json:"forwarded_count"`
	IsVerified        bool            `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// Better reports whether k should replace old in a backup, by the spec's
// rules: a verified key wins over an unverified one; then the lower
// first_message_index; then the lower forwarded_count. An equal key does
// not replace the old one.
func (k RoomKeyBackup) Better(old RoomKeyBackup) bool {
	if k.IsVerified != old.IsVerified {
		return k.IsVerified
	}
	if k.FirstMessageIndex != old.FirstMessageIndex {
		return k.FirstMessageIndex < old.FirstMessageIndex
	}
	return k.ForwardedCount < old.ForwardedCount
}

// KeyBackupStore keeps each user's server-side key backups.
type KeyBackupStore interface {
	// CreateKeyBackup creates a backup version, which becomes the current
	// one, and returns its version.
	CreateKeyBackup(ctx context.Context, userID, algorithm string, authData json.RawMessage) (string, error)
	// KeyBackup returns a backup version, or the current one when version
	// is "". It returns an error wrapping ErrNotFound when there is none or
	// it was deleted.
	KeyBackup(ctx context.Context, userID, version string) (*KeyBackupVersion, error)
	// UpdateKeyBackup replaces the auth_data of a backup. It returns an
	// error wrapping ErrNotFound for an unknown version and ErrInvalidParam
	// when algorithm is not the backup's.
	UpdateKeyBackup(ctx context.Context, userID, version, algorithm string, authData json.RawMessage) error
	// DeleteKeyBackup deletes a backup and its keys; deleting a deleted
	// backup succeeds. It returns an error wrapping ErrNotFound for a
	// version that never existed.
	DeleteKeyBackup(ctx context.Context, userID, version string) error
	// PutRoomKeys stores keys (room ID → session ID → key) in the current
	// backup, keeping for each session the better key (RoomKeyBackup.Better),
	// and returns the backup's key count and etag. It returns an error
	// wrapping ErrNotFound when the user has no backup, and
	// ErrWrongRoomKeysVersion (with current_version) when version is not the
	// current one.
	PutRoomKeys(ctx context.Context, userID, version string, keys map[string]map[string]RoomKeyBackup) (count int64, etag string, err error)
	// RoomKeys returns the keys of a backup (room ID → session ID → key),
	// of one room when roomID is set, of one session when sessionID is set
	// too. It returns an error wrapping ErrNotFound for an unknown or
	// deleted version.
	RoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (map[string]map[string]RoomKeyBackup, error)
	// DeleteRoomKeys deletes keys from a backup (all, one room's, or one
	// session's, as for RoomKeys) and returns the key count and etag after.
	// It returns an error wrapping ErrNotFound for an unknown version.
	DeleteRoomKeys(ctx context.Context, userID, version, roomID, sessionID string) (count int64, etag string, err error)
}
