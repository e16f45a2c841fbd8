package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

const versionUsage = `usage: driftwatch version

Prints the module version, the VCS revision the binary was built from (and whether the tree
had changes) and the Go version, from the build information.
`

// versionCommand is `driftwatch version` (and `driftwatch --version`).
func versionCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, code, ok := parseCLI(fs, versionUsage, args, nil, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintln(stdout, "driftwatch "+versionString())
	return exitOK
}

// versionString says what was built: "v0.3.1 (rev 0123456789ab, go1.26.8)", with
// "modified" after the revision when the tree had uncommitted changes.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: built without module support)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	details := []string{}
	if rev != "" {
		details = append(details, "rev "+rev[:min(12, len(rev))]+modified)
	}
	details = append(details, bi.GoVersion)
	return v + " (" + strings.Join(details, ", ") + ")"
}

// moduleVersion is the module version alone, for documents that name the tool's version
// (SARIF); "" when unknown.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "(devel)" {
		return ""
	}
	return bi.Main.Version
}
