package netbox_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/handlers/enrich/netbox"
	"github.com/driftwatch/driftwatch/internal/testsupport/netboxfake"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// example returns the JSON block after <!-- example: name --> in SCHEMA.md.
func example(t *testing.T, doc, name string) []byte {
	t.Helper()
	_, after, ok := strings.Cut(doc, "<!-- example: "+name+" -->")
	if !ok {
		t.Fatalf("SCHEMA.md has no example %q", name)
	}
	_, block, ok := strings.Cut(after, "```json\n")
	if !ok {
		t.Fatalf("SCHEMA.md example %q has no json block", name)
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatalf("SCHEMA.md example %q is not closed", name)
	}
	return []byte(block)
}

func TestSchemaDocumentsWhatTheCodeDerives(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	device, ifaces, desired := example(t, doc, "device"), example(t, doc, "interfaces"), example(t, doc, "desired")

	spec, err := netboxfake.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.ValidateSchema("DeviceWithConfigContext", device); err != nil {
		t.Errorf("the example device is not a NetBox answer: %v", err)
	}
	if err := spec.ValidateSchema("PaginatedInterfaceList", ifaces); err != nil {
		t.Errorf("the example interfaces are not a NetBox answer: %v", err)
	}

	got, err := netbox.DocumentFromJSON("dcim.device", device, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	want, err := drift.Canonical(desired)
	if err != nil {
		t.Fatalf("the example desired state: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("SCHEMA.md's desired state differs from what the code derives\n code: %s\n  doc: %s", got, want)
	}
}
