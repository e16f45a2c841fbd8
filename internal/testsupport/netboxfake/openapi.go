package netboxfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// goNetboxModule is the module whose api/openapi.yaml (NetBox's own OpenAPI document, as
// NetBox 4.3 serves it at /api/schema/) every answer of the fake is checked against.
const goNetboxModule = "github.com/netbox-community/go-netbox/v4"

// ServedPaths are the API paths the fake answers, in the OpenAPI document's templates. Only
// their GET operations, and the schemas these reach, are loaded from the document.
var ServedPaths = []string{
	"/api/status/",
	"/api/dcim/devices/",
	"/api/virtualization/virtual-machines/",
	"/api/dcim/interfaces/",
	"/api/virtualization/interfaces/",
	"/api/extras/custom-fields/",
	"/api/core/object-changes/",
}

// Spec is NetBox's OpenAPI document reduced to ServedPaths, with a router over it.
type Spec struct {
	// Path is the openapi.yaml it was read from.
	Path   string
	Doc    *openapi3.T
	router routers.Router
}

var (
	specOnce sync.Once
	spec     *Spec
	specErr  error
)

// LoadSpec reads go-netbox's api/openapi.yaml from the module cache, once per test binary.
// The document is about 4 MB; parsing all of it costs seconds under -race, so only the GET
// operations of ServedPaths and the component schemas they reach (transitively) are kept.
// The pruning works on the document's text, which openapi-generator writes in block style
// with two-space indentation: paths at indent 2, methods at 4, schemas at 4 under
// components.schemas.
func LoadSpec() (*Spec, error) {
	specOnce.Do(func() { spec, specErr = loadSpec() })
	return spec, specErr
}

func loadSpec() (*Spec, error) {
	path, err := openapiPath()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read netbox openapi document: %w", err)
	}
	pruned, err := prune(string(raw), ServedPaths)
	if err != nil {
		return nil, fmt.Errorf("prune %s: %w", path, err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(pruned))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate %s: %w", path, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return &Spec{Path: path, Doc: doc, router: router}, nil
}

// openapiPath finds api/openapi.yaml of the go-netbox module the build uses.
func openapiPath() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-json", goNetboxModule).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list -m %s: %w: %s", goNetboxModule, err, ee.Stderr)
		}
		return "", fmt.Errorf("go list -m %s: %w", goNetboxModule, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go list -m %s: %w", goNetboxModule, err)
	}
	if m.Dir == "" {
		return "", fmt.Errorf("go list -m %s: module not in the module cache (run go mod download %s)", goNetboxModule, goNetboxModule)
	}
	return filepath.Join(m.Dir, "api", "openapi.yaml"), nil
}

var schemaRef = regexp.MustCompile(`\$ref: '#/components/schemas/([^']+)'`)

// block is a YAML mapping entry written in block style: its key line and the lines under it.
type block struct {
	key   string
	lines []string
}

// blocks splits lines into the entries of a mapping whose keys sit at indent spaces.
// Lines before the first key are dropped; they do not occur in the document.
func blocks(lines []string, indent int) []block {
	prefix := strings.Repeat(" ", indent)
	var out []block
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && len(l) > indent && l[indent] != ' ' && l[indent] != '-' {
			key, _, _ := strings.Cut(l[indent:], ":")
			out = append(out, block{key: strings.Trim(key, `'"`)})
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, l)
		}
	}
	return out
}

func prune(doc string, paths []string) (string, error) {
	top := blocks(strings.Split(doc, "\n"), 0)
	byKey := map[string]block{}
	for _, b := range top {
		byKey[b.key] = b
	}
	for _, k := range []string{"openapi", "info", "paths", "components"} {
		if _, ok := byKey[k]; !ok {
			return "", fmt.Errorf("no top-level %q", k)
		}
	}
	var out []string
	out = append(out, byKey["openapi"].lines...)
	out = append(out, byKey["info"].lines...)
	out = append(out, "paths:")

	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	var kept []string
	for _, pb := range blocks(byKey["paths"].lines[1:], 2) {
		if !want[pb.key] {
			continue
		}
		delete(want, pb.key)
		out = append(out, pb.lines[0])
		for _, mb := range blocks(pb.lines[1:], 4) {
			if mb.key == "get" || mb.key == "parameters" {
				out = append(out, mb.lines...)
				kept = append(kept, mb.lines...)
			}
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for p := range want {
			missing = append(missing, p)
		}
		sort.Strings(missing)
		return "", fmt.Errorf("paths not in the document: %s", strings.Join(missing, ", "))
	}

	comps := blocks(byKey["components"].lines[1:], 2)
	schemas := map[string]block{}
	out = append(out, "components:")
	for _, c := range comps {
		if c.key == "schemas" {
			for _, s := range blocks(c.lines[1:], 4) {
				schemas[s.key] = s
			}
			continue
		}
		out = append(out, c.lines...)
	}
	reached := map[string]bool{}
	queue := refs(kept)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if reached[name] {
			continue
		}
		s, ok := schemas[name]
		if !ok {
			return "", fmt.Errorf("schema %q is referenced but not defined", name)
		}
		reached[name] = true
		queue = append(queue, refs(s.lines)...)
	}
	names := make([]string, 0, len(reached))
	for n := range reached {
		names = append(names, n)
	}
	sort.Strings(names)
	out = append(out, "  schemas:")
	for _, n := range names {
		out = append(out, schemas[n].lines...)
	}
	text := strings.Join(out, "\n") + "\n"
	patched := nullableCustomFields.ReplaceAllString(text, "${1}additionalProperties: {nullable: true}")
	if patched == text {
		return "", errors.New("no custom_fields property to patch")
	}
	return patched, nil
}

// nullableCustomFields finds the custom_fields properties, whose values the document types
// as the empty schema. NetBox sends null for every custom field an object has no value for;
// OpenAPI 3.0.3 lets a schema without a type take null, but kin-openapi does not, so the
// fake's copy of the document says nullable, and nothing else changes.
var nullableCustomFields = regexp.MustCompile(`(\n +custom_fields:\n +type: object\n +)additionalProperties: \{\}`)

func refs(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, m := range schemaRef.FindAllStringSubmatch(l, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// ValidateResponse checks one answer of the fake against the document: the route of req,
// its status, content type and body. It reports requests the document has no route for.
func (s *Spec) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: no route in the openapi document: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	opts := &openapi3filter.Options{MultiError: true}
	opts.WithCustomSchemaErrorFunc(briefSchemaError)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return fmt.Errorf("%s %s: answer %d does not match the openapi document: %w", req.Method, req.URL.RequestURI(), status, err)
	}
	return nil
}

// ValidateRequest checks a request's query parameters against the document, so that the
// client under test sends only what NetBox documents (custom-field filters, cf_<name>,
// which NetBox adds at run time, are not in the document and are not checked).
func (s *Spec) ValidateRequest(req *http.Request) error {
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: no route in the openapi document: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	opts.WithCustomSchemaErrorFunc(briefSchemaError)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s: request does not match the openapi document: %w", req.Method, req.URL.RequestURI(), err)
	}
	return nil
}

// briefSchemaError names the failing value by its JSON pointer and the rule it breaks,
// leaving out the schema kin-openapi would print, which for NetBox runs to pages.
func briefSchemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("/%s: %s (value %s)", strings.Join(err.JSONPointer(), "/"), err.Reason, brief(err.Value))
}

func brief(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

// ValidateSchema checks doc, a JSON document, against the component schema name of the
// document ("DeviceWithConfigContext"), as a response carries it; name must be reachable
// from ServedPaths.
func (s *Spec) ValidateSchema(name string, doc []byte) error {
	ref, ok := s.Doc.Components.Schemas[name]
	if !ok || ref.Value == nil {
		return fmt.Errorf("schema %q is not among those the fake loads", name)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse(), openapi3.SetSchemaErrorMessageCustomizer(briefSchemaError)); err != nil {
		return fmt.Errorf("schema %s: %w", name, err)
	}
	return nil
}
