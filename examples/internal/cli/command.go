package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ExitUsage is the exit status of every example command called wrongly
// (EX_USAGE of sysexits.h).
const ExitUsage = 64

// Command is the frame of an example command: its flag set and where it
// reports errors. A command defines its flags on Flags, calls Parse, and
// returns what Usage or UsageError return when its arguments do not make
// sense.
type Command struct {
	Flags  *flag.FlagSet
	name   string
	stderr io.Writer
}

// NewCommand returns the command name, reporting on stderr. Its usage
// message, printed for -h and for a bad flag, is the line usage followed by
// the flags and their defaults.
func NewCommand(name, usage string, stderr io.Writer) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return &Command{Flags: fs, name: name, stderr: stderr}
}

// Parse parses args. When the command must stop there, ok is false and
// status is its exit status: 0 for -h or -help (help was asked for, and
// printed), ExitUsage for a flag that does not parse (the flag package has
// printed the error and the usage message).
func (c *Command) Parse(args []string) (status int, ok bool) {
	if err := c.Flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return ExitUsage, false
	}
	return 0, true
}

// Usage prints the usage message and returns ExitUsage, for arguments that
// parse but do not make sense (a missing operand, a negative timeout).
func (c *Command) Usage() int {
	c.Flags.Usage()
	return ExitUsage
}

// Error prints err on stderr after the command's name: "name: err".
func (c *Command) Error(err error) {
	fmt.Fprintln(c.stderr, c.name+":", err)
}

// UsageError prints err as Error does and returns ExitUsage, for a value
// the command cannot use (a domain that is not one, a -ca file without
// certificates).
func (c *Command) UsageError(err error) int {
	c.Error(err)
	return ExitUsage
}

// WriteJSON writes v to w as one JSON object, indented by two spaces, as
// the commands print their reports with -json.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
