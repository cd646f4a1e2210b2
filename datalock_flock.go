//go:build unix

package hearth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// flockLock holds an flock(2) on the lock file; the kernel lets it go when
// the process ends, however it ends, so a crash leaves no stale lock.
type flockLock struct{ f *os.File }

// lockDataDir creates the data folder if needed and takes the exclusive
// lock of its lock file without waiting, writing this process's ID into
// it. It returns a *DataDirInUseError when another process (or another
// Open in this process) holds it.
func lockDataDir(dir string) (dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	path := lockPath(dir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			return nil, &DataDirInUseError{Lock: path, PID: strings.TrimSpace(string(b))}
		}
		return nil, fmt.Errorf("data folder lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder lock %s: %w", path, err)
	}
	return &flockLock{f}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// release empties the lock file (no stale process ID stays behind) and
// unlocks it. The file itself stays: removing it would let a process that
// opened it a moment earlier lock a file nobody else can see.
func (l *flockLock) release() error {
	terr := l.f.Truncate(0)
	return errors.Join(terr, l.f.Close())
}
