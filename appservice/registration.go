// Package appservice is the outbound side of the application service API:
// it reads registration files, queues the events and ephemeral data each
// service is interested in and pushes them as transactions (one in
// flight per service, retried with backoff, persisted so a restart loses
// nothing), and asks services about users and aliases they may hold.
// The rules the client-server API applies to services live in
// core/appservice and web.
//
// Importing the package has no side effects.
package appservice

import (
	"errors"
	"fmt"
	"os"

	core "hearth.dev/hearth/core/appservice"
)

// LoadFiles reads the registration files at paths (Synapse's YAML format)
// and checks them together for serverName (core/appservice.NewSet). The
// error joins one error per bad file.
func LoadFiles(serverName string, paths []string) (*core.Set, error) {
	var regs []*core.Registration
	var errs []error
	for _, p := range paths {
		r, err := readFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("application service %s: %w", p, err))
			continue
		}
		regs = append(regs, r)
	}
	set, err := core.NewSet(serverName, regs)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func readFile(path string) (*core.Registration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := parseRegistration(b)
	if err != nil {
		return nil, err
	}
	r.File = path
	return r, nil
}
