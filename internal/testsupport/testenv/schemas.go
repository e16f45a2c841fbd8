package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ValidJUnit checks doc against the JUnit schema of the conformance data (junit/JUnit.xsd)
// with xmllint, and fails the test when it departs from it. Without xmllint (Debian package
// libxml2-utils) or the schema, the test is skipped (see Missing).
func ValidJUnit(t testing.TB, doc []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		Missing(t, "xmllint not found (Debian package libxml2-utils)")
	}
	ConformanceFile(t, "junit", "JUnit.xsd")
	path := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", ConformancePath(t, "junit", "JUnit.xsd"), path).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint rejects the report: %v\n%s", err, out)
	}
}

// ValidSARIF checks doc against the OASIS SARIF 2.1.0 schema of the conformance data
// (sarif/sarif-schema-2.1.0.json), formats (uri, date-time) included, and returns it decoded
// (numbers as json.Number). It also wants the document followed by exactly one newline.
func ValidSARIF(t testing.TB, doc []byte) any {
	t.Helper()
	raw := ConformanceFile(t, "sarif", "sarif-schema-2.1.0.json")
	sch, err := sarifSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("the SARIF schema rejects the log: %v", err)
	}
	// UnmarshalJSON refused anything but white space after the document; that is one newline.
	if !bytes.HasSuffix(doc, []byte("}\n")) {
		t.Fatalf("the log ends in %q, want one newline after the document", doc[max(0, len(doc)-10):])
	}
	return inst
}

var (
	sarifOnce     sync.Once
	sarifCompiled *jsonschema.Schema
	sarifErr      error
)

// sarifSchema compiles the schema in raw once per test binary, formats asserted; a compiled
// schema is read-only, so tests share it.
func sarifSchema(raw []byte) (*jsonschema.Schema, error) {
	sarifOnce.Do(func() {
		schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			sarifErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
		if sarifErr = c.AddResource(url, schema); sarifErr != nil {
			return
		}
		sarifCompiled, sarifErr = c.Compile(url)
	})
	return sarifCompiled, sarifErr
}
