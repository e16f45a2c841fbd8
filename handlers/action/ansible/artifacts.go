package ansible

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/script"
)

// run is what the artifacts of one finished run say.
type run struct {
	outcome action.Outcome
	// failed is the last failed or unreachable host result that was not ignored, if any.
	failed *action.RunEvent
	// elapsed is the time from the command record to the status record; zero if unknown.
	elapsed time.Duration
}

// jobEvent is the part of an ansible-runner job event file the executor reads.
type jobEvent struct {
	Counter int    `json:"counter"`
	Event   string `json:"event"`
	Data    struct {
		Host         string          `json:"host"`
		Task         string          `json:"task"`
		IgnoreErrors *bool           `json:"ignore_errors"`
		Res          json.RawMessage `json:"res"`
	} `json:"event_data"`
}

// taskResult is a task result's flags and message.
type taskResult struct {
	Changed bool            `json:"changed"`
	Failed  bool            `json:"failed"`
	Msg     json.RawMessage `json:"msg"`
}

// stats is playbook_on_stats's event data.
type stats struct {
	Changed  map[string]int `json:"changed"`
	Failures map[string]int `json:"failures"`
	Dark     map[string]int `json:"dark"`
}

// readRun reads the artifacts directory of a finished run; it fails when the run recorded
// no status.
func readRun(art string) (run, error) {
	var r run
	status, err := os.ReadFile(filepath.Join(art, "status"))
	if err != nil {
		return r, fmt.Errorf("read status: %w", err)
	}
	r.outcome.Status = strings.TrimSpace(string(status))
	if raw, err := os.ReadFile(filepath.Join(art, "rc")); err == nil {
		if rc, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
			r.outcome.RC = &rc
		}
	}
	r.outcome.Output = readOutput(art)
	if err := r.readEvents(filepath.Join(art, "job_events")); err != nil {
		return r, err
	}
	if c, err := os.Stat(filepath.Join(art, "command")); err == nil {
		if s, err := os.Stat(filepath.Join(art, "status")); err == nil {
			r.elapsed = s.ModTime().Sub(c.ModTime())
		}
	}
	return r, nil
}

// readOutput is the run's stdout, then its stderr, bounded and redacted.
func readOutput(art string) string {
	b := script.NewBounded(OutputLimit)
	for _, name := range []string{"stdout", "stderr"} {
		f, err := os.Open(filepath.Join(art, name))
		if err != nil {
			continue
		}
		_, _ = io.Copy(b, f)
		f.Close()
	}
	return script.Redact(b.String())
}

// readEvents summarises the run's host results and its stats, in counter order.
func (r *run) readEvents(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read job events: %w", err)
	}
	var events []jobEvent
	raws := map[int]json.RawMessage{}
	for _, d := range entries {
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			return fmt.Errorf("read job event %s: %w", d.Name(), err)
		}
		var ev jobEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("decode job event %s: %w", d.Name(), err)
		}
		if !hostResult(ev.Event) && ev.Event != "playbook_on_stats" {
			continue
		}
		events = append(events, ev)
		raws[ev.Counter] = raw
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Counter < events[j].Counter })
	for _, ev := range events {
		re := action.RunEvent{Counter: ev.Counter, Event: ev.Event, Host: ev.Data.Host, Task: ev.Data.Task}
		if ev.Event == "playbook_on_stats" {
			var s struct {
				Data stats `json:"event_data"`
			}
			_ = json.Unmarshal(raws[ev.Counter], &s)
			re.Changed = len(s.Data.Changed) > 0
			re.Failed = len(s.Data.Failures)+len(s.Data.Dark) > 0
		} else {
			var res taskResult
			if len(ev.Data.Res) > 0 && ev.Data.Res[0] == '{' {
				_ = json.Unmarshal(ev.Data.Res, &res)
			}
			bad := ev.Event == "runner_on_failed" || ev.Event == "runner_on_unreachable"
			re.Changed = res.Changed
			re.Failed = res.Failed || bad
			re.Message = message(res.Msg)
			if ev.Event == "runner_on_ok" && res.Changed {
				r.outcome.Changed = true
			}
			if bad && (ev.Data.IgnoreErrors == nil || !*ev.Data.IgnoreErrors) {
				failed := re
				r.failed = &failed
			}
		}
		if len(r.outcome.Events) < EventLimit {
			r.outcome.Events = append(r.outcome.Events, re)
		}
	}
	return nil
}

// hostResult reports whether an event is a task's result on a host.
func hostResult(event string) bool {
	return (strings.HasPrefix(event, "runner_on_") && event != "runner_on_start") ||
		strings.HasPrefix(event, "runner_item_on_") || event == "runner_retry"
}

// message is a result's msg as text (a string as it is, anything else as JSON), redacted
// and cut to MessageLimit.
func message(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	return cut(script.Redact(s), MessageLimit)
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	i := n - len(more)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + more
}
