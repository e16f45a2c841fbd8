// Package gitdir adapts a directory of desired-state files (a Git checkout, typically) to
// enrich.DesiredSource. Each *.json, *.yaml or *.yml file below the directory (hidden
// directories such as .git left out) is one template:
//
//	template_id: web-vm          # optional; default the file's name without its extension
//	resource_type: vm            # required: the ci_type it governs
//	priority: 0                  # optional: the highest governs when several share a type
//	template_definition:         # required: the desired state, an object
//	  power_state: "on"
//
// A file that cannot be used is refused whole, with its path, line and reason, and the last
// good version of that file stays in force. Drifts name the file (Desired.Ref) and, where the
// directory is in a Git checkout, the commit it was read at (Desired.Commit).
package gitdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// SourceName is the source's name in drifts.
const SourceName = "git"

// Source serves desired state from the files of a directory. It is safe for concurrent use.
type Source struct {
	dir string

	mu     sync.RWMutex
	files  map[string]file // by path relative to dir: the last good version of each
	commit string
	print  [32]byte // of the directory's listing (paths, sizes, modification times)
	errs   []error  // the files refused at the last load
}

// file is one template file's last good version.
type file struct {
	template drift.Template
}

// New loads dir. A bad file is not an error of New: it is refused (see Errors) and its last
// good version, none yet, stays in force; a directory that cannot be read is.
func New(dir string) (*Source, error) {
	s := &Source{dir: dir, files: map[string]file{}}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Name implements enrich.DesiredSource.
func (s *Source) Name() string { return SourceName }

// Errors lists the files refused at the last load, each naming its path, line and reason.
func (s *Source) Errors() []error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.errs)
}

// Commit is the Git commit the files were last read at; empty outside a Git checkout.
func (s *Source) Commit() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.commit
}

// Desired implements enrich.DesiredSource: the template whose id the observation names, else
// the one with the highest priority for the CI's type (ties go to the smallest id: files in
// one directory are reviewed together, so a tie is the reviewers' to see).
func (s *Source) Desired(_ context.Context, q enrich.Query) (drift.Desired, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *drift.Template
	var ref string
	for path, f := range s.files {
		t := f.template
		switch {
		case q.TemplateID != "" && t.ID == q.TemplateID:
			return s.desired(t, path), true, nil
		case q.TemplateID == "" && t.ResourceType == q.CIType:
			if best != nil && (best.Priority > t.Priority || best.Priority == t.Priority && best.ID < t.ID) {
				continue
			}
			best, ref = &t, path
		}
	}
	if best == nil {
		return drift.Desired{}, false, nil
	}
	return s.desired(*best, ref), true, nil
}

func (s *Source) desired(t drift.Template, ref string) drift.Desired {
	return drift.Desired{Source: SourceName, TemplateID: t.ID, Ref: ref, Commit: s.commit,
		Definition: t.Definition, BaselineHash: t.BaselineHash}
}

// Reload reads the directory again if its listing changed, and reports whether any template
// in force changed. Bad files are refused whole; their last good versions stay.
func (s *Source) Reload() (bool, error) {
	paths, print, err := s.list()
	if err != nil {
		return false, err
	}
	commit := gitCommit(s.dir)
	s.mu.RLock()
	same := print == s.print && commit == s.commit
	s.mu.RUnlock()
	if same {
		return false, nil
	}
	next := map[string]file{}
	var errs []error
	s.mu.RLock()
	for _, p := range paths {
		t, err := load(s.dir, p)
		if err != nil {
			errs = append(errs, err)
			if old, ok := s.files[p]; ok {
				next[p] = old
			}
			continue
		}
		next[p] = file{template: t}
	}
	changed := len(next) != len(s.files) || commit != s.commit
	for p, f := range next {
		if old, ok := s.files[p]; !ok || old.template.BaselineHash != f.template.BaselineHash ||
			old.template.ResourceType != f.template.ResourceType || old.template.ID != f.template.ID || old.template.Priority != f.template.Priority {
			changed = true
		}
	}
	s.mu.RUnlock()
	s.mu.Lock()
	s.files, s.print, s.commit, s.errs = next, print, commit, errs
	s.mu.Unlock()
	return changed, nil
}

// Follow reloads every interval until ctx ends, calling changed after each reload that
// changed a template in force, and bad for each file refused.
func (s *Source) Follow(ctx context.Context, every time.Duration, changed func(commit string), bad func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := s.Reload()
		if err != nil {
			bad(err)
			continue
		}
		if c {
			for _, e := range s.Errors() {
				bad(e)
			}
			changed(s.Commit())
		}
	}
}

// list walks the directory for template files, with a fingerprint of what it saw.
func (s *Source) list() ([]string, [32]byte, error) {
	var paths []string
	h := sha256.New()
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != s.dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json", ".yaml", ".yml":
		default:
			return nil
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		paths = append(paths, rel)
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", rel, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("templates dir %s: %w", s.dir, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return paths, sum, nil
}

// fileDoc is a template file's document.
type fileDoc struct {
	ID           string          `json:"template_id"`
	ResourceType string          `json:"resource_type"`
	Priority     int             `json:"priority"`
	Definition   json.RawMessage `json:"template_definition"`
}

var known = map[string]bool{"template_id": true, "resource_type": true, "priority": true, "template_definition": true}

// load reads one template file; every error names the file and, where it can, the line.
func load(dir, rel string) (drift.Template, error) {
	raw, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return drift.Template{}, fmt.Errorf("%s: %w", rel, err)
	}
	var doc fileDoc
	if strings.EqualFold(filepath.Ext(rel), ".json") {
		err = decodeJSON(raw, &doc)
	} else {
		err = decodeYAML(raw, &doc)
	}
	if err != nil {
		return drift.Template{}, fmt.Errorf("%s: %w", rel, err)
	}
	if doc.ID == "" {
		doc.ID = strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
	}
	t := drift.Template{ID: doc.ID, ResourceType: doc.ResourceType, Priority: doc.Priority, Definition: doc.Definition}
	if err := t.Validate(); err != nil {
		return drift.Template{}, fmt.Errorf("%s: %w", rel, err)
	}
	def, err := drift.Canonical(t.Definition)
	if err != nil {
		return drift.Template{}, fmt.Errorf("%s: template_definition: %w", rel, err)
	}
	t.Definition = def
	t.BaselineHash = drift.HashCanonical(def)
	return t, nil
}

// decodeJSON decodes strictly: an unknown member or a syntax error names its line.
func decodeJSON(raw []byte, doc *fileDoc) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("line %d: %v", lineOf(raw, se.Offset), err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("line %d: the document ends before it is complete", lineOf(raw, int64(len(raw))))
		}
		return fmt.Errorf("line %d: %v", lineOf(raw, dec.InputOffset()), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("line %d: more than one JSON document", lineOf(raw, dec.InputOffset()))
	}
	return nil
}

// decodeYAML decodes one YAML document strictly; an unknown key names its line.
func decodeYAML(raw []byte, doc *fileDoc) error {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return err
	}
	root := &n
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a template file is a mapping of template_id, resource_type, priority and template_definition", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !known[k.Value] {
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		}
		switch k.Value {
		case "template_definition":
			var def any
			if err := v.Decode(&def); err != nil {
				return fmt.Errorf("line %d: template_definition: %v", v.Line, err)
			}
			b, err := json.Marshal(def)
			if err != nil {
				return fmt.Errorf("line %d: template_definition: %v", v.Line, err)
			}
			doc.Definition = b
		case "priority":
			if err := v.Decode(&doc.Priority); err != nil {
				return fmt.Errorf("line %d: priority: %v", v.Line, err)
			}
		default:
			var str string
			if err := v.Decode(&str); err != nil {
				return fmt.Errorf("line %d: %s: %v", v.Line, k.Value, err)
			}
			if k.Value == "template_id" {
				doc.ID = str
			} else {
				doc.ResourceType = str
			}
		}
	}
	return nil
}

func lineOf(raw []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(raw)))
	return bytes.Count(raw[:offset], []byte("\n")) + 1
}

// gitCommit is the commit HEAD names in the Git checkout that holds dir, or "".
func gitCommit(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		git := filepath.Join(d, ".git")
		if head, err := os.ReadFile(filepath.Join(git, "HEAD")); err == nil {
			h := strings.TrimSpace(string(head))
			ref, isRef := strings.CutPrefix(h, "ref: ")
			if !isRef {
				return h
			}
			if sha, err := os.ReadFile(filepath.Join(git, filepath.FromSlash(ref))); err == nil {
				return strings.TrimSpace(string(sha))
			}
			packed, _ := os.ReadFile(filepath.Join(git, "packed-refs"))
			for _, line := range strings.Split(string(packed), "\n") {
				if sha, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == ref {
					return sha
				}
			}
			return ""
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}
