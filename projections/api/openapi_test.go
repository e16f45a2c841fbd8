package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/driftwatch/driftwatch/projections/api"
)

// openAPI is the API's document, compiled once for checking answers.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	paths    []docPath

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
	checked map[string]int // "METHOD /path" -> answers checked
	success map[string]int // "METHOD /path" -> 2xx answers checked
}

type docPath struct {
	template string
	re       *regexp.Regexp
}

var (
	docOnce sync.Once
	theDoc  *openAPI
	docErr  error
)

func loadOpenAPI(t testing.TB) *openAPI {
	t.Helper()
	docOnce.Do(func() {
		raw, err := api.OpenAPI()
		if err != nil {
			docErr = err
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			docErr = err
			return
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			docErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource("openapi.json", inst); err != nil {
			docErr = err
			return
		}
		o := &openAPI{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}, checked: map[string]int{}, success: map[string]int{}}
		for p := range doc["paths"].(map[string]any) {
			re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`) + "$"
			o.paths = append(o.paths, docPath{template: p, re: regexp.MustCompile(re)})
		}
		// A literal segment wins over a parameter (/drift/events/stream over /drift/events/{id}).
		sort.Slice(o.paths, func(i, j int) bool {
			return strings.Count(o.paths[i].template, "{") < strings.Count(o.paths[j].template, "{")
		})
		theDoc = o
	})
	if docErr != nil {
		t.Fatalf("openapi document: %v", docErr)
	}
	return theDoc
}

func pointer(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
	}
	return "openapi.json#/" + strings.Join(parts, "/")
}

func (o *openAPI) schema(ptr string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[ptr]; ok {
		return s, nil
	}
	s, err := o.compiler.Compile(ptr)
	if err != nil {
		return nil, err
	}
	o.schemas[ptr] = s
	return s, nil
}

// check returns every way the answer departs from the document.
func (o *openAPI) check(method, path string, status int, header http.Header, body []byte) error {
	if !o.documents(method, path) && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) {
		// No such route: the answer is still a problem.
		return o.checkProblem(method, path, status, header, body)
	}
	var tmpl string
	for _, p := range o.paths {
		if p.re.MatchString(path) {
			tmpl = p.template
			break
		}
	}
	if tmpl == "" {
		return fmt.Errorf("%s %s: no path of the document matches", method, path)
	}
	op, ok := o.doc["paths"].(map[string]any)[tmpl].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s: the document has no %s operation on %s", method, path, method, tmpl)
	}
	o.mu.Lock()
	o.checked[method+" "+tmpl]++
	if status < 300 {
		o.success[method+" "+tmpl]++
	}
	o.mu.Unlock()
	responses := op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	resp, ok := responses[code].(map[string]any)
	if !ok {
		if resp, ok = responses["default"].(map[string]any); !ok || status < 400 {
			return fmt.Errorf("%s %s: status %d is not documented", method, tmpl, status)
		}
		code = "default"
	}
	ptr := []string{"paths", tmpl, strings.ToLower(method), "responses", code}
	if ref, ok := resp["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/responses/")
		resp = o.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
		ptr = []string{"components", "responses", name}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s %s: %d has a body, the document says none", method, tmpl, status)
		}
		return nil
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s: %d answered %q, the document says %v", method, tmpl, status, mt, keys(content))
	}
	if _, ok := media["schema"]; !ok || !strings.Contains(mt, "json") {
		return nil
	}
	sch, err := o.schema(pointer(append(ptr, "content", mt, "schema")...))
	if err != nil {
		return fmt.Errorf("%s %s: compile the schema: %v", method, tmpl, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %d body is not JSON: %v", method, tmpl, status, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s %s: %d body departs from the document: %v\nbody: %s", method, tmpl, status, err, body)
	}
	if mt == "application/problem+json" {
		var p struct{ Status int }
		_ = json.Unmarshal(body, &p)
		if p.Status != status {
			return fmt.Errorf("%s %s: problem status %d on a %d answer", method, tmpl, p.Status, status)
		}
	}
	return nil
}

// documents reports whether the document has an operation for method on path.
func (o *openAPI) documents(method, path string) bool {
	for _, p := range o.paths {
		if p.re.MatchString(path) {
			_, ok := o.doc["paths"].(map[string]any)[p.template].(map[string]any)[strings.ToLower(method)]
			return ok
		}
	}
	return false
}

// checkProblem checks an answer against the document's Problem schema.
func (o *openAPI) checkProblem(method, path string, status int, header http.Header, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("%s %s: %d answered %q, not a problem", method, path, status, mt)
	}
	sch, err := o.schema(pointer("components", "schemas", "Problem"))
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %d body is not JSON: %v", method, path, status, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s %s: %d problem departs from the document: %v", method, path, status, err)
	}
	return nil
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// conforming wraps h so that every answer a test gets is checked against the document.
func conforming(t *testing.T, h http.Handler) http.Handler {
	o := loadOpenAPI(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if err := o.check(r.Method, r.URL.Path, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("OpenAPI: %v", err)
		}
	})
}

// TestEveryRouteIsInTheOpenAPIDocumentWithItsRole reads the document against the route table,
// both ways.
func TestEveryRouteIsInTheOpenAPIDocumentWithItsRole(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	if v := o.doc["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v, want 3.1.0", v)
	}
	inTable := map[string]bool{}
	for _, rt := range api.Routes() {
		inTable[rt.Method+" "+rt.Path] = true
		op, ok := o.doc["paths"].(map[string]any)[rt.Path].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any)
		if !ok {
			t.Errorf("%s is not in openapi.yaml", rt.Pattern())
			continue
		}
		if op["x-driftwatch-role"] != rt.Role.String() {
			t.Errorf("%s: the document says role %v, the table %s", rt.Pattern(), op["x-driftwatch-role"], rt.Role)
		}
	}
	for p, item := range o.doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			if m == "parameters" {
				continue
			}
			if !inTable[strings.ToUpper(m)+" "+p] {
				t.Errorf("openapi.yaml documents %s %s, which no route serves", strings.ToUpper(m), p)
			}
		}
	}
}

// TestMain checks, after every test ran, that each route had at least one successful (2xx)
// answer checked against the document: a route the tests never call, or only ever refuse,
// would escape the conformance check.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && theDoc != nil && !testing.Short() && runAll() {
		var missing []string
		for _, rt := range api.Routes() {
			if theDoc.success[rt.Method+" "+rt.Path] == 0 {
				missing = append(missing, rt.Pattern())
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "OpenAPI conformance: no test got a successful answer from %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

// runAll reports whether the whole package ran (no -run filter), so that coverage of the
// routes is only demanded then.
func runAll() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") {
			return false
		}
	}
	return true
}
