package services

// prepareRegistration says whether the start prepares registration
// (storage.AccountStore.Start): it clears the registration tokens' pending
// uses and, while no account exists, makes a one-time setup token.
//
// In the browser the host creates the owner itself at the first start and
// leaves registration closed: no one can read a setup token there, and with
// an account and registration closed no registration token can be
// reserved, so none has a pending use. Only a tab configured to register
// by token or openly (none is today) prepares registration; the others
// save its four statements at each start, and V8's compiling SQLite's
// UPDATE and DELETE code for them before the first answer.
func prepareRegistration(cfg Config) bool {
	return cfg.Client.Registration == "token" || cfg.Client.Registration == "open"
}
