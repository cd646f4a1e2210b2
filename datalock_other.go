//go:build !unix

package hearth

// lockDataDir takes no lock where flock(2) does not exist. In the browser
// (js/wasm) the page shell elects the one worker that owns the database
// with Web Locks before it opens it. Windows has no folder lock yet
// (LockFileEx would give one).
func lockDataDir(dir string) (dataDirLock, error) { return noLock{}, nil }
