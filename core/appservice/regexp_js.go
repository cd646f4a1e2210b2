package appservice

import "errors"

// The browser build has no application services: it reads no registration
// files (appservice/registration_js.go), so no namespace is ever compiled
// there, and the regexp engine stays out of its download
// (TestBrowserBuildDeps).

var errNoRegexp = errors.New("application service namespaces are not compiled in the browser build")

func compileNamespace(string) (matcher, error) { return nil, errNoRegexp }

func regexpLiteral(string) (string, bool) { return "", false }
