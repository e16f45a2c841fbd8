package proctest_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

func TestBuffer(t *testing.T) {
	t.Parallel()

	t.Run("tails_the_last_lines", func(t *testing.T) {
		t.Parallel()
		var b proctest.Buffer
		_, _ = b.Write([]byte("one\ntwo\nthree\nfour"))
		if got := b.Tail(2); got != "three\nfour" {
			t.Fatalf("Tail(2) = %q", got)
		}
		if got := b.Tail(10); got != "one\ntwo\nthree\nfour" {
			t.Fatalf("Tail(10) = %q", got)
		}
	})
}

func TestHelpers(t *testing.T) {
	t.Parallel()

	t.Run("free_addr_can_be_listened_on", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", proctest.FreeAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = l.Close()
	})

	t.Run("wait_until_returns_once_the_condition_holds", func(t *testing.T) {
		t.Parallel()
		calls := 0
		proctest.WaitUntil(t, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
		if calls != 3 {
			t.Fatalf("%d calls", calls)
		}
	})

	t.Run("get_ok_holds_for_200_only", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		addr := srv.URL
		if !proctest.GetOK(addr+"/healthz") || proctest.GetOK(addr+"/other") {
			t.Fatal("GetOK does not tell 200 from 503")
		}
		srv.Close()
		if proctest.GetOK(addr + "/healthz") {
			t.Fatal("GetOK of a closed server is true")
		}
	})

	t.Run("do_json_sends_and_decodes_json", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in map[string]string
			if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]string{"echo": r.Method + " " + in["name"]})
		}))
		defer srv.Close()
		var out struct {
			Echo string `json:"echo"`
		}
		if code := proctest.DoJSON(t, http.MethodPut, srv.URL+"/x", map[string]string{"name": "a"}, &out); code != http.StatusCreated || out.Echo != "PUT a" {
			t.Fatalf("DoJSON = %d, %+v", code, out)
		}
	})
}

// sleeper builds testdata/sleeper; every test of this binary shares the build.
func sleeper(t *testing.T) string {
	t.Helper()
	bin := proctest.Build(t, "sleeper", "./testdata/sleeper")
	if again := proctest.Build(t, "sleeper", "./testdata/sleeper"); again != bin {
		t.Fatalf("second Build = %s, first %s", again, bin)
	}
	return bin
}

func TestProcess(t *testing.T) {
	t.Parallel()

	t.Run("stop_ends_the_process_with_sigterm", func(t *testing.T) {
		t.Parallel()
		p := proctest.Start(t, "sleeper", exec.Command(sleeper(t)))
		waitReady(t, p)
		p.Stop()
		if !strings.Contains(p.Output.String(), "stopping") {
			t.Fatalf("output %q, want the SIGTERM handler's", p.Output.String())
		}
		p.Stop()
	})

	t.Run("stop_kills_a_process_that_ignores_sigterm", func(t *testing.T) {
		t.Parallel()
		p := proctest.Start(t, "sleeper", exec.Command(sleeper(t), "-ignore-term"), proctest.WithStopTimeout(200*time.Millisecond))
		waitReady(t, p)
		start := time.Now()
		p.Stop()
		if took := time.Since(start); took < 200*time.Millisecond || took > 10*time.Second {
			t.Fatalf("Stop took %s, want the stop timeout and a kill", took)
		}
	})

	t.Run("kill_runs_no_shutdown_code", func(t *testing.T) {
		t.Parallel()
		p := proctest.Start(t, "sleeper", exec.Command(sleeper(t)))
		waitReady(t, p)
		p.Kill()
		select {
		case <-p.Exited():
		default:
			t.Fatal("Kill returned before the process exited")
		}
		if strings.Contains(p.Output.String(), "stopping") {
			t.Fatal("the SIGTERM handler ran on Kill")
		}
	})

	t.Run("static_builds_are_apart_from_race_builds", func(t *testing.T) {
		t.Parallel()
		if static := proctest.BuildStatic(t, "sleeper", "./testdata/sleeper"); static == sleeper(t) {
			t.Fatalf("BuildStatic and Build share %s", static)
		}
	})
}

func waitReady(t *testing.T, p *proctest.Process) {
	t.Helper()
	proctest.WaitUntil(t, 10*time.Second, "the sleeper is ready", func() bool {
		return strings.Contains(p.Output.String(), "ready")
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBuilds()
	os.Exit(code)
}
