package clientsync

// The token of a /sync: where every stream is now.

import (
	"context"
)

// Position returns the current token: the position of every stream.
func (s *Service) Position(ctx context.Context) (Token, error) {
	var t Token
	var err error
	if t.Events, err = s.stores.Timeline.StreamPosition(ctx); err != nil {
		return t, err
	}
	if st := s.stores.ToDevice; st != nil {
		if t.ToDevice, err = st.ToDevicePosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.DeviceLists; st != nil {
		if t.DeviceLists, err = st.DeviceListPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.AccountData; st != nil {
		if t.AccountData, err = st.AccountDataPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.Receipts; st != nil {
		if t.Receipts, err = st.ReceiptPosition(ctx); err != nil {
			return t, err
		}
	}
	if st := s.stores.Typing; st != nil {
		t.Typing = st.Position()
	}
	if st := s.stores.Presence; st != nil {
		if t.Presence, err = st.PresencePosition(ctx); err != nil {
			return t, err
		}
	}
	return t, nil
}
