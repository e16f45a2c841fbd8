package ansible

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// playbook is an allowlisted playbook resolved to its file.
type playbook struct {
	id   string
	path string // absolute, symlinks resolved, inside the playbook dir
}

// resolve finds the playbook of id; every refusal is permanent.
func (e *Executor) resolve(id string) (playbook, error) {
	if !idPattern.MatchString(id) {
		return playbook{}, fault.Permanent(fmt.Errorf("playbook id %q is not allowed: it must match %s", id, idPattern))
	}
	dir, err := filepath.EvalSymlinks(e.cfg.PlaybookDir)
	if err != nil {
		return playbook{}, fmt.Errorf("resolve playbook dir: %w", err)
	}
	for _, ext := range []string{".yml", ".yaml"} {
		path, err := filepath.EvalSymlinks(filepath.Join(dir, id+ext))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return playbook{}, fault.Permanent(fmt.Errorf("playbook %s: %w", id, err))
		}
		if rel, err := filepath.Rel(dir, path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return playbook{}, fault.Permanent(fmt.Errorf("playbook %s leads out of the playbook directory to %s", id, path))
		}
		fi, err := os.Stat(path)
		if err != nil {
			return playbook{}, fault.Permanent(fmt.Errorf("playbook %s: %w", id, err))
		}
		if !fi.Mode().IsRegular() {
			return playbook{}, fault.Permanent(fmt.Errorf("playbook %s is not a regular file", id))
		}
		return playbook{id: id, path: path}, nil
	}
	return playbook{}, fault.Permanent(fmt.Errorf("playbook %q is not in the playbook directory", id))
}

// digest is the SHA-256 of the playbook file, recorded with each run for audit.
func (p playbook) digest() (string, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
