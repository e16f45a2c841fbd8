package agent

import (
	"encoding/json"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/agent/redact"
	"github.com/driftwatch/driftwatch/agent/state"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

// stateJSON renders {"files": ...} of the current files in canonical form (drift.Canonical):
// paths in order, each file's JSON (canonical itself) reused while the file is unchanged, so
// that a save re-encodes one file, not the whole node.
func (a *Agent) stateJSON() []byte {
	b := make([]byte, 0, a.stateSize+64)
	b = append(b, `{"files":{`...)
	for i, p := range a.order {
		f, ok := a.files[p]
		if !ok {
			f = capture.Absent
		}
		fr, ok := a.frags[p]
		if !ok || fr.file != f {
			raw, _ := f.MarshalJSON()
			fr = fragment{file: f, json: raw}
			a.frags[p] = fr
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a.keys[i]...)
		b = append(b, ':')
		b = append(b, fr.json...)
	}
	b = append(b, "}}"...)
	a.stateSize = len(b)
	return b
}

// publish signs and spools one observation of the current files.
func (a *Agent) publish(scope []string, details map[string]string) error {
	st := a.stateJSON()
	hash := drift.HashCanonical(st)
	seq := a.seq + 1
	if len(details) == 0 {
		details = nil
	}
	now := a.now().UTC()
	sub := event.ObservationSubmitted_v1{
		Observation: drift.Observation{
			ID:   event.DeriveID("driftwatch-agent", a.cfg.AgentID, a.cfg.CIID, strconv.FormatUint(seq, 10), hash, strings.Join(scope, ",")),
			CIID: a.cfg.CIID, CIType: a.cfg.CIType, TemplateID: a.cfg.TemplateID, Source: Source,
			ObservedAt: now, State: st, StateHash: hash, Details: details,
		},
		Scope: scope,
	}
	if err := event.Sign(&sub, a.cfg.AgentID, a.key); err != nil {
		return err
	}
	if err := a.out.Submit(sub); err != nil {
		return err
	}
	a.seq = seq
	a.mu.Lock()
	a.status.lastObs = now
	a.mu.Unlock()
	a.log.Debug("Observation spooled", zap.String("ci_id", a.cfg.CIID), zap.String("observation_id", sub.ID), zap.Strings("scope", scope))
	return nil
}

// keptText returns the redacted text kept for path when old is a text file.
func (a *Agent) keptText(path string, old capture.File) []byte {
	if old.Kind != capture.KindText {
		return nil
	}
	text, err := a.store.Text(path)
	if err != nil {
		a.fail("read kept text", err)
	}
	return text
}

// keep stores (or forgets) the redacted text of path.
func (a *Agent) keep(path string, text []byte) {
	if err := a.store.SetText(path, text); err != nil {
		a.fail("keep text of "+path, err)
	}
}

// save writes the reported state.
func (a *Agent) save() {
	err := a.store.Save(state.State{AgentID: a.cfg.AgentID, CIID: a.cfg.CIID, Seq: a.seq, Files: a.files, SavedAt: a.now().UTC()})
	if err != nil {
		a.fail("save state", err)
	}
}

// Pointer is the JSON pointer of a watched path's field in the state: "/files/~1etc~1hosts".
func Pointer(path string) string {
	return "/files/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(path)
}

// CaptureState captures every path of cfg once and returns the state an observation would
// carry, {"files": {...}}: the desired state of a template for nodes like this one. Nothing is
// reported and no text is kept.
func CaptureState(cfg Config, red *redact.Redactor) (json.RawMessage, error) {
	opts := capture.Options{Redactor: red, MaxTextBytes: cfg.Redaction.MaxTextBytes}
	files := make(map[string]capture.File, len(cfg.Paths))
	for _, p := range cfg.Paths {
		res, err := capture.Capture(p, opts)
		if err != nil {
			return nil, err
		}
		files[p] = res.File
	}
	return json.Marshal(struct {
		Files map[string]capture.File `json:"files"`
	}{files})
}

// fragment is the JSON of one file as last rendered.
type fragment struct {
	file capture.File
	json []byte
}
