package federation

import (
	"context"
	"log/slog"

	"hearth.dev/hearth/core"
)

// UserServersFunc returns the other servers that share a room with a
// local user.
type UserServersFunc func(ctx context.Context, userID string) ([]string, error)

// DeviceKeysOut is the client API's device key service with federation:
// a device's new or changed identity keys go, as an m.device_list_update
// EDU, to every server sharing a room with its user.
type DeviceKeysOut struct {
	core.DeviceKeyStore
	Sender  *Sender
	Servers UserServersFunc
}

// UploadKeys implements core.DeviceKeyStore.
func (d DeviceKeysOut) UploadKeys(ctx context.Context, userID, deviceID string, up core.KeyUpload) (map[string]int, error) {
	counts, err := d.DeviceKeyStore.UploadKeys(ctx, userID, deviceID, up)
	if err != nil || up.DeviceKeys == nil {
		return counts, err
	}
	servers, err := d.Servers(ctx, userID)
	if err != nil {
		slog.WarnContext(ctx, "federation: servers sharing a room", "user_id", userID, "err", err)
		return counts, nil
	}
	content := map[string]any{"user_id": userID, "device_id": deviceID, "stream_id": 0, "prev_id": []int64{},
		"deleted": false, "keys": up.DeviceKeys}
	for _, server := range servers {
		if err := d.Sender.SendEDU(ctx, server, EDUDeviceListUpdate, content); err != nil {
			slog.WarnContext(ctx, "federation: queueing a device list EDU failed", "destination", server, "err", err)
		}
	}
	return counts, nil
}
