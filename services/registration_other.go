//go:build !js

package services

// prepareRegistration says whether the start prepares registration
// (storage.AccountStore.Start): it clears the registration tokens' pending
// uses and, while no account exists, makes the one-time setup token
// `hearth serve` prints. A native server always does.
func prepareRegistration(Config) bool { return true }
