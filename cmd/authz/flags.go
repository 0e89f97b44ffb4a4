package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// newFlags is a subcommand's flag set whose -h starts with what the
// subcommand does.
func newFlags(name, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "authz %s: %s\n\nflags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and returns the exit code to end with, or -1 to go on:
// -h is a success, a bad flag or a stray argument a usage error (a token
// given without -token would otherwise be silently ignored).
func parse(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "authz %s: unexpected argument %q: every value goes with its flag (see -h)\n", fs.Name(), fs.Arg(0))
		return 2
	}
	return -1
}
