package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

const sshd = "Port 22\nPasswordAuthentication no\n"

func runShell(dir, script string) error {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sh -c %q: %v\n%s", script, err, out)
	}
	return nil
}

// files decodes the state of an observation.
func files(t *testing.T, s event.ObservationSubmitted_v1) map[string]capture.File {
	t.Helper()
	var st struct {
		Files map[string]capture.File `json:"files"`
	}
	if err := json.Unmarshal(s.State, &st); err != nil {
		t.Fatal(err)
	}
	return st.Files
}

func TestEachSaveStyleIsOneObservationWithItsDiff(t *testing.T) {
	t.Parallel()
	const f = "etc/ssh/sshd_config"
	cases := map[string]struct {
		script string
		want   []string
		root   bool
	}{
		"reports_a_rename_over_like_mv": {`printf 'Port 2201\nPasswordAuthentication no\n' > etc/ssh/.new && mv etc/ssh/.new ` + f,
			[]string{"-Port 22\n", "+Port 2201\n"}, false},
		"reports_a_vim_style_backup_and_write": {`mv ` + f + ` ` + f + `~ && printf 'Port 2202\nPasswordAuthentication no\n' > ` + f + ` && rm ` + f + `~`,
			[]string{"+Port 2202\n"}, false},
		"reports_sed_in_place": {`sed -i 's/Port 22/Port 2203/' ` + f,
			[]string{"-Port 22\n", "+Port 2203\n"}, false},
		"reports_a_truncate_then_a_slow_write": {`truncate -s 0 ` + f + ` && sleep 0.1 && printf 'Port 2204\nPasswordAuthentication no\n' >> ` + f,
			[]string{"+Port 2204\n"}, false},
		"reports_cp_over": {`printf 'Port 2205\nPasswordAuthentication yes\n' > ../src && cp ../src ` + f,
			[]string{"+Port 2205\n", "-PasswordAuthentication no\n", "+PasswordAuthentication yes\n"}, false},
		"reports_a_chmod_alone": {`chmod 600 ` + f, []string{"mode 0644 -> 0600\n"}, false},
		"reports_a_chown_alone": {`chown 1234:1234 ` + f, []string{"owner 0:0 -> 1234:1234\n"}, true},
		"reports_a_remove_and_slow_recreate": {`rm ` + f + ` && sleep 0.1 && printf 'Port 2208\nPasswordAuthentication no\n' > ` + f,
			[]string{"+Port 2208\n"}, false},
		"reports_a_directory_replaced_by_rename": {`mkdir etc/ssh.new && printf 'Port 2209\nPasswordAuthentication no\n' > etc/ssh.new/sshd_config && rm -rf etc/ssh && mv etc/ssh.new etc/ssh`,
			[]string{"+Port 2209\n"}, false},
		"reports_a_directory_removed_and_recreated": {`rm -rf etc/ssh && mkdir etc/ssh && printf 'Port 2210\nPasswordAuthentication no\n' > ` + f,
			[]string{"+Port 2210\n"}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if c.root && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			n := newNode(t, map[string]string{f: sshd, "etc/hosts": "127.0.0.1 localhost\n"}, nil)
			n.start()
			path := n.path(f)
			n.sh(c.script)
			n.waitFor("an observation of "+f, func() bool { return len(n.scoped(path)) > 0 })
			n.settled()
			got := n.scoped(path)
			if len(got) != 1 {
				var details []string
				for _, s := range got {
					details = append(details, s.Details[agent.Pointer(path)])
				}
				t.Fatalf("%d observations for one save, want 1; details %q", len(got), details)
			}
			s := got[0]
			n.verify(s)
			if err := contains(s.Details[agent.Pointer(path)], c.want...); err != nil {
				t.Fatal(err)
			}
			fs := files(t, s)
			if fs[path].Kind != capture.KindText || len(fs) != 2 {
				t.Fatalf("state %+v: the saved file is not text or a path is missing", fs)
			}
			if strings.Contains(s.Details[agent.Pointer(path)], "removed") {
				t.Fatalf("a save was reported as a removal: %q", s.Details[agent.Pointer(path)])
			}
		})
	}
}

func TestARemovedFileIsReportedAbsentAfterItSettles(t *testing.T) {
	t.Parallel()
	n := newNode(t, map[string]string{"etc/sudoers": "root ALL=(ALL) ALL\n"}, nil)
	n.start()
	path := n.path("etc/sudoers")
	n.sh("rm etc/sudoers")
	n.waitFor("the removal", func() bool { return len(n.scoped(path)) > 0 })
	n.settled()
	got := n.scoped(path)
	if len(got) != 1 || files(t, got[0])[path] != capture.Absent {
		t.Fatalf("got %d observations, last state %+v", len(got), files(t, got[len(got)-1]))
	}
	if err := contains(got[0].Details[agent.Pointer(path)], "removed ", "-root ALL=(ALL) ALL\n"); err != nil {
		t.Fatal(err)
	}
}

func TestDowntimeChangesAreReportedAtStart(t *testing.T) {
	t.Parallel()
	n := newNode(t, map[string]string{"etc/sysctl.conf": "vm.swappiness = 10\n", "etc/hosts": "127.0.0.1 localhost\n"}, nil)
	n.start()
	n.stop()
	path := n.path("etc/sysctl.conf")
	if err := os.WriteFile(path, []byte("vm.swappiness = 60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := n.sender.sent()
	n.start()
	all, _ := n.sender.sent()
	snap := all[len(before)]
	n.verify(snap)
	if len(snap.Scope) != 0 || len(snap.Details) != 1 {
		t.Fatalf("the start-up snapshot is scoped %v or has details for %d paths", snap.Scope, len(snap.Details))
	}
	if err := contains(snap.Details[agent.Pointer(path)], "-vm.swappiness = 10\n", "+vm.swappiness = 60\n"); err != nil {
		t.Fatal(err)
	}
	if h := n.agent.Health(); h.SnapshotsByReason[agent.GapDowntime] != 1 {
		t.Fatalf("snapshots by reason %v", h.SnapshotsByReason)
	}
}

func TestAnUnreachableServerDelaysObservationsInOrderWithStableIDs(t *testing.T) {
	t.Parallel()
	n := newNode(t, map[string]string{"etc/hosts": "127.0.0.1 localhost\n"}, nil)
	n.start()
	path := n.path("etc/hosts")
	n.sender.fail(errUnreachable)
	for i := range 3 {
		n.sh(fmt.Sprintf("printf '10.0.0.%d db\\n' >> etc/hosts", i))
		n.waitFor(fmt.Sprintf("save %d to be spooled", i), func() bool { return n.agent.Health().Outbox.Spooled == i+1 })
	}
	if h := n.agent.Health(); h.Outbox.Connected || h.Status != agent.StatusDegraded {
		t.Fatalf("health %+v does not say the server is unreachable", h)
	}
	spooled := readSpool(t, filepath.Join(n.cfg.StateDir, "spool.jsonl"))
	// The agent restarts while the server is still away, then the server comes back.
	n.stop()
	before, _ := n.sender.sent()
	n.sender.fail(nil)
	n.start()
	n.settled()
	all, _ := n.sender.sent()
	got := all[len(before):]
	if len(got) < 4 {
		t.Fatalf("sent %d observations after the restart, want the 3 spooled and the snapshot", len(got))
	}
	for i, want := range spooled {
		if got[i].ID != want.ID || got[i].Signature != want.Signature || !slices.Equal(got[i].Scope, []string{agent.Pointer(path)}) {
			t.Fatalf("observation %d sent is %s, want the spooled %s in order", i, got[i].ID, want.ID)
		}
	}
	n.verify(got...)
	if err := contains(got[2].Details[agent.Pointer(path)], "+10.0.0.2 db\n"); err != nil {
		t.Fatal(err)
	}
}

// readSpool returns the observations in a spool file.
func readSpool(t *testing.T, path string) []event.ObservationSubmitted_v1 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.ObservationSubmitted_v1
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var s event.ObservationSubmitted_v1
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestPollingReportsChangesAndSaysSoInHealth(t *testing.T) {
	t.Parallel()
	n := newNode(t, map[string]string{"etc/hosts": "127.0.0.1 localhost\n"}, func(c *agent.Config) {
		c.Polling = true
		c.PollInterval = 50 * 1e6
	})
	n.start()
	if h := n.agent.Health(); h.Watch.Mode != "polling" || h.Status != agent.StatusDegraded || h.Watch.Reason == "" {
		t.Fatalf("health %+v does not say polling", h)
	}
	path := n.path("etc/hosts")
	n.sh("printf '10.1.1.1 cache\\n' >> etc/hosts")
	n.waitFor("the polled change", func() bool { return len(n.scoped(path)) > 0 })
	if err := contains(n.scoped(path)[0].Details[agent.Pointer(path)], "+10.1.1.1 cache\n"); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsNeverLeaveTheNodeButTheirChangesDo(t *testing.T) {
	t.Parallel()
	n := newNode(t, map[string]string{
		"etc/app.conf": "user = app\npassword = first-canary-value\n",
		"etc/shadow":   "root:$6$salt$first-shadow-canary:19000:0:99999:7:::\n",
	}, func(c *agent.Config) { c.Redaction.HashOnly = []string{} })
	n.cfg.Redaction.HashOnly = []string{n.path("etc/shadow")}
	n.start()
	n.sh("sed -i 's/first-canary-value/second-canary-value/' etc/app.conf && sed -i 's/first-shadow/second-shadow/' etc/shadow")
	conf, shadow := n.path("etc/app.conf"), n.path("etc/shadow")
	n.waitFor("both saves", func() bool { return len(n.scoped(conf)) > 0 && len(n.scoped(shadow)) > 0 })
	n.settled()
	all, _ := n.sender.sent()
	raw, _ := json.Marshal(all)
	for _, canary := range []string{"first-canary-value", "second-canary-value", "first-shadow-canary", "second-shadow-canary"} {
		if strings.Contains(string(raw), canary) {
			t.Fatalf("%s was sent", canary)
		}
	}
	kept, _ := exec.Command("grep", "-r", "canary", n.cfg.StateDir).CombinedOutput()
	if len(kept) > 0 {
		t.Fatalf("the state dir keeps a secret: %s", kept)
	}
	d := n.scoped(conf)[0].Details[agent.Pointer(conf)]
	var masks []string
	for _, line := range strings.Split(d, "\n") {
		if strings.HasPrefix(line, "-password = [REDACTED:hmac:") || strings.HasPrefix(line, "+password = [REDACTED:hmac:") {
			masks = append(masks, line[1:])
		}
	}
	if len(masks) != 2 || masks[0] == masks[1] {
		t.Fatalf("the change of the password does not show as two different masks: %q", d)
	}
	if err := contains(n.scoped(shadow)[0].Details[agent.Pointer(shadow)], capture.MarkerHashOnly); err != nil {
		t.Fatal(err)
	}
}
