package main

import (
	"strings"
	"testing"
)

// hearth relay node add prints a token; list shows the node waiting for
// its first connection; remove forgets it.
func TestRelayNodeCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "relay", "node", "add", "--data-dir", dir, "bob")
	if err != nil {
		t.Fatalf("node add: %v\n%s", err, out)
	}
	if tok := strings.TrimSpace(out); !strings.HasPrefix(tok, "hrt_") || len(tok) < 40 {
		t.Errorf("node add printed %q, want a token", out)
	}
	if out, err := runCLI(t, "relay", "node", "add", "--data-dir", dir, "Not_A_Label"); err == nil {
		t.Errorf("node add accepted a bad name: %s", out)
	}
	out, err = runCLI(t, "relay", "node", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "bob\twaiting for its first connection\tqueued 0") {
		t.Errorf("node list: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "relay", "node", "remove", "--data-dir", dir, "bob"); err != nil {
		t.Errorf("node remove: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "relay", "node", "remove", "--data-dir", dir, "bob"); err == nil {
		t.Errorf("removing bob twice succeeded: %s", out)
	}
	if out, err := runCLI(t, "relay", "--data-dir", dir, "--domain", "relay.test"); err == nil || !strings.Contains(err.Error(), "tls-cert-file") {
		t.Errorf("relay without a certificate: %v %s", err, out)
	}
}
