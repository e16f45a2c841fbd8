package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes of every command.
const (
	// exitOK: the command did what was asked (check: every CI in sync).
	exitOK = 0
	// exitFailed: the command ran and failed (check: drift is open or a CI is unverified).
	exitFailed = 1
	// exitUsage: bad usage (check: also any error, so that a pipeline tells "drift" apart).
	exitUsage = 2
)

// usageError prints one line saying what is wrong with the command line of cmd ("" for the
// top level, "events show" for a subcommand) and where its help is, and returns exitUsage.
func usageError(stderr io.Writer, cmd string, format string, args ...any) int {
	see := "driftwatch --help"
	prefix := ""
	if cmd != "" {
		see = "driftwatch " + cmd + " --help"
		prefix = cmd + ": "
	}
	fmt.Fprintf(stderr, "driftwatch: %s%s (see %s)\n", prefix, oneLine(fmt.Sprintf(format, args...)), see)
	return exitUsage
}

// failure prints one line saying why cmd failed and returns code.
func failure(stderr io.Writer, cmd string, code int, err error) int {
	fmt.Fprintf(stderr, "driftwatch: %s: %s\n", cmd, oneLine(err.Error()))
	return code
}

// oneLine puts a message on one line: errors.Join and raw answers may hold several.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// parseCLI parses the flags of command cmd ("events show"), which may come before, between
// or after its arguments (a "--" ends the flags), and wants exactly the arguments named in
// argNames. --help prints usage and the flags on stdout (code 0); a usage error prints one
// line on stderr (code 2). ok is false when the command must stop and return code.
func parseCLI(fs *flag.FlagSet, usage string, args []string, argNames []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	fs.SetOutput(io.Discard)
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, fs, usage)
		return nil, exitOK, false
	case err != nil:
		return nil, usageError(stderr, fs.Name(), "%v", err), false
	case len(pos) < len(argNames):
		return nil, usageError(stderr, fs.Name(), "missing <%s>", argNames[len(pos)]), false
	case len(pos) > len(argNames):
		return nil, usageError(stderr, fs.Name(), "unexpected argument %q", pos[len(argNames)]), false
	}
	return pos, exitOK, true
}

// parseInterleaved parses fs over args, collecting the arguments found between flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp writes a command's usage and its flags.
func printHelp(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// listFlag is a flag that may be given more than once: --ci a --ci b is [a b].
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set adds v.
func (l *listFlag) Set(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*l = append(*l, v)
	return nil
}

// oneOf is a flag check: v must be one of the allowed values.
func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("--%s: %q is not one of %s", name, v, strings.Join(allowed, ", "))
}

// subcommand splits `<group> <sub> args...` for a command group such as token or events:
// with no subcommand or a request for help, it prints the group's usage (on stdout, code 0,
// for help; a usage error otherwise) and ok is false.
func subcommand(group, usage string, args []string, stdout, stderr io.Writer) (sub string, rest []string, code int, ok bool) {
	if len(args) == 0 {
		return "", nil, usageError(stderr, group, "missing subcommand"), false
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return "", nil, exitOK, false
	}
	return args[0], args[1:], exitOK, true
}
