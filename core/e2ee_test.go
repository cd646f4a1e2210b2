package core

import "testing"

func TestRoomKeyBackupBetter(t *testing.T) {
	k := func(verified bool, first, fwd int64) RoomKeyBackup {
		return RoomKeyBackup{IsVerified: verified, FirstMessageIndex: first, ForwardedCount: fwd}
	}
	tests := []struct {
		name     string
		new, old RoomKeyBackup
		want     bool
	}{
		{"verified beats unverified", k(true, 10, 10), k(false, 0, 0), true},
		{"unverified loses to verified", k(false, 0, 0), k(true, 10, 10), false},
		{"lower first index wins", k(false, 1, 9), k(false, 2, 0), true},
		{"higher first index loses", k(false, 3, 0), k(false, 2, 9), false},
		{"same index, fewer forwards wins", k(true, 2, 0), k(true, 2, 1), true},
		{"same index, more forwards loses", k(true, 2, 2), k(true, 2, 1), false},
		{"equal keeps the old", k(false, 2, 1), k(false, 2, 1), false},
	}
	for _, tt := range tests {
		if got := tt.new.Better(tt.old); got != tt.want {
			t.Errorf("%s: %+v.Better(%+v) = %v, want %v", tt.name, tt.new, tt.old, got, tt.want)
		}
	}
}
