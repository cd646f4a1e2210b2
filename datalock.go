package hearth

import (
	"errors"
	"fmt"
	"path/filepath"
)

// LockFileName is the file in the data folder that a running homeserver
// holds locked, with its process ID written in it.
const LockFileName = "hearth.lock"

// ErrDataDirInUse is wrapped by the error Open returns when another
// homeserver holds the data folder.
var ErrDataDirInUse = errors.New("the data folder is in use")

// DataDirInUseError says which lock file is held and by which process.
type DataDirInUseError struct {
	Lock string // the lock file's path
	PID  string // the holder's process ID as written in the lock ("" if not yet written)
}

func (e *DataDirInUseError) Error() string {
	holder := "another process"
	if e.PID != "" {
		holder = "process " + e.PID
	}
	return fmt.Sprintf("%v: %s is held by %s (another hearth serves this folder)", ErrDataDirInUse, e.Lock, holder)
}

func (e *DataDirInUseError) Unwrap() error { return ErrDataDirInUse }

// dataDirLock is a held lock on a data folder; release lets it go.
type dataDirLock interface {
	release() error
}

// lockPath is the lock file of the data folder dir.
func lockPath(dir string) string { return filepath.Join(dir, LockFileName) }

// noLock is the lock of a homeserver whose folder is not locked.
type noLock struct{}

func (noLock) release() error { return nil }
