// Command hearth runs a hearth homeserver and manages its database.
//
//	hearth serve [--config FILE] [--data-dir DIR] [--listen ADDR] [--server-name NAME] ...
//	hearth serve --generate-config
//	hearth db check  --data-dir DIR
//	hearth db export --data-dir DIR FILE
//	hearth db import --data-dir DIR FILE
//	hearth user create --data-dir DIR --name NAME --password-stdin [--admin]
//	hearth relay --data-dir DIR --listen ADDR --domain DOMAIN [--tls-cert-file F --tls-key-file F | --tls off]
//	hearth relay node add|list|remove --data-dir DIR [NAME]
//	hearth version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"hearth.dev/hearth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hearth:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: hearth <command> [flags]

commands:
  serve     run the homeserver (--generate-config prints the default config)
  db        check | export | import | compress-state the database
  user      create an account (hearth user create --name NAME --password-stdin [--admin])
  relay     run a relay for nodes that cannot accept connections; relay node add|list|remove
  version   print hearth's version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "db":
		return dbCommand(ctx, args[1:], stdout, stderr)
	case "user":
		return userCommand(ctx, args[1:], stdin, stdout, stderr)
	case "relay":
		return relayCommand(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "hearth", hearth.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
