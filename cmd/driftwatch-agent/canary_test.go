package main_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/agent"
	"github.com/driftwatch/driftwatch/agent/capture"
	"github.com/driftwatch/driftwatch/internal/testsupport/proctest"
)

// canary returns a fresh secret that cannot occur by chance.
func canary() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "CNRY" + strings.ToUpper(hex.EncodeToString(b))
}

// canaryFiles are the node's secret-bearing files, with 20 canaries in them.
func canaryFiles(c []string) map[string]string {
	big := strings.Repeat("filler line of a large data file\n", 9000) + "secret = " + c[18] + "\n"
	return map[string]string{
		"/etc/app/app.conf": "# application settings\nuser = app\n" +
			"password = " + c[0] + "\n" +
			"db_password: " + c[1] + "\n" +
			"api_key=" + c[2] + "\n" +
			`client_secret = "` + c[3] + `"` + "\n" +
			"auth_token: " + c[4] + "\n" +
			"export AWS_SECRET_ACCESS_KEY=" + c[5] + "\n" +
			"url = redis://app:" + c[6] + "@db.internal:6379/0\n" +
			`{"password": "` + c[7] + `", "user": "svc"}` + "\n" +
			"license blob " + c[8] + "\n" +
			"# passphrase = " + c[9] + "\n" +
			"private_key: " + c[10] + "\n",
		"/etc/app/tls.key":    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI" + c[11] + "\n" + c[12] + "AAAA\n-----END PRIVATE KEY-----\n",
		"/etc/sysctl.conf":    "# Kernel parameters of a sim node\nnet.ipv4.ip_forward = 0\nnet.ipv4.conf.all.rp_filter = 1\nkernel.kptr_restrict = 2\nvm.swappiness = 10\nkernel.secret_token = " + c[13] + "\n",
		"/etc/sudoers":        "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n# token: " + c[14] + "\n",
		"/etc/shadow":         "root:$6$salt$" + c[15] + ":20000:0:99999:7:::\nops:$6$salt$" + c[16] + ":20000:0:99999:7:::\n",
		"/etc/app/blob.bin":   "\x00\x01BIN" + c[17] + "\x00\x02",
		"/etc/app/big.dat":    big,
		"/etc/app/vault.conf": "vault_unseal = " + c[19] + "\n",
	}
}

// plant copies files into the (created or stopped) container.
func (n *node) plant(files map[string]string) {
	n.t.Helper()
	dir := n.t.TempDir()
	for p, content := range files {
		local := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"))
		mode := os.FileMode(0o644)
		if p == "/etc/shadow" {
			mode = 0o640
		}
		if err := os.WriteFile(local, []byte(content), mode); err != nil {
			n.t.Fatal(err)
		}
		docker(n.t, "cp", "-a", local, n.name+":"+p)
	}
}

// leaks returns where any of the secrets appears in haystack: as is or in base64 (CloudEvents
// data_base64), at any of the three alignments.
func leaks(haystack []byte, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		forms := []string{s}
		for off := range 3 {
			b64 := base64.StdEncoding.EncodeToString(append(make([]byte, off), s...))
			forms = append(forms, b64[4:len(b64)-4])
		}
		for _, f := range forms {
			if bytes.Contains(haystack, []byte(f)) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// redisDump returns every key and value of every type in Redis.
func (s *stack) redisDump() []byte {
	s.t.Helper()
	ctx, c := s.t.Context(), s.redis.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	var buf bytes.Buffer
	streams := 0
	for _, k := range keys {
		typ, _ := c.Type(ctx, k).Result()
		fmt.Fprintf(&buf, "%s %s\n", typ, k)
		var v any
		switch typ {
		case "stream":
			streams++
			v, err = c.XRange(ctx, k, "-", "+").Result()
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, k).Result()
		case "zset":
			v, err = c.ZRange(ctx, k, 0, -1).Result()
		default:
			s.t.Fatalf("key %s has type %s, which the dump does not read", k, typ)
		}
		if err != nil {
			s.t.Fatalf("read %s: %v", k, err)
		}
		fmt.Fprintf(&buf, "%v\n", v)
	}
	if streams < 5 {
		s.t.Fatalf("only %d streams in Redis: the pipeline did not run", streams)
	}
	return buf.Bytes()
}

func TestSecretCanariesNeverLeaveTheNodeButTheirChangesDo(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	before, after := make([]string, 20), make([]string, 20)
	for i := range before {
		before[i], after[i] = canary(), canary()
	}
	secrets := append(append([]string{}, before...), after...)
	extra := []string{"/etc/app/app.conf", "/etc/app/tls.key", "/etc/app/blob.bin", "/etc/app/big.dat", "/etc/app/vault.conf"}
	n := createNode(t, "sim-s", agentConfig(s, "sim-s", extra,
		"redaction:\n  hash_only: [/etc/shadow, /etc/app/vault.conf]\n  patterns: ['(?i)license blob\\s+(\\S+)']\n"))
	n.mkdir("app")
	n.plant(canaryFiles(before))
	n.start(s)
	s.useTemplate("sim-s")
	// Every secret changes; so do the files that hold them.
	script := "set -e\n"
	for i := range before {
		script += fmt.Sprintf("sed -i 's/%s/%s/' /etc/app/app.conf /etc/app/tls.key /etc/sysctl.conf /etc/sudoers /etc/shadow /etc/app/big.dat /etc/app/vault.conf\n", before[i], after[i])
	}
	script += fmt.Sprintf("printf '\\000\\001BIN%s\\000\\002' > /etc/app/blob.bin\n", after[17])
	n.sh(script)
	changed := []string{"/etc/app/app.conf", "/etc/app/tls.key", "/etc/sysctl.conf", "/etc/sudoers", "/etc/shadow", "/etc/app/blob.bin", "/etc/app/big.dat", "/etc/app/vault.conf"}
	proctest.WaitUntil(t, 30*time.Second, "a drift for every file with a secret", func() bool { return len(s.detected()) >= len(changed) })
	n.settled()
	details := map[string]string{}
	for _, d := range s.detected() {
		details[d.Field] = d.Detail
	}
	maskLine := regexp.MustCompile(`(?m)^([-+])password = (\[REDACTED:hmac:[0-9a-f]{12}\])$`)
	m := maskLine.FindAllStringSubmatch(details[agent.Pointer("/etc/app/app.conf")], -1)
	if len(m) != 2 || m[0][1] != "-" || m[1][1] != "+" || m[0][2] == m[1][2] {
		t.Errorf("the password's change does not show as two different masks:\n%s", details[agent.Pointer("/etc/app/app.conf")])
	}
	for path, marker := range map[string]string{
		"/etc/shadow": capture.MarkerHashOnly, "/etc/app/vault.conf": capture.MarkerHashOnly,
		"/etc/app/blob.bin": capture.MarkerBinary, "/etc/app/big.dat": capture.MarkerLarge,
		"/etc/app/tls.key": "\n+[REDACTED:hmac:", "/etc/sysctl.conf": "+kernel.secret_token = [REDACTED:hmac:",
		"/etc/sudoers": "+# token: [REDACTED:hmac:",
	} {
		if d := details[agent.Pointer(path)]; !strings.Contains(d, marker) {
			t.Errorf("the drift of %s does not show its change (%q):\n%s", path, marker, d)
		}
	}

	// API answers.
	var api bytes.Buffer
	for _, p := range []string{"/drift/events?limit=500", "/drift/cis", "/drift/cis/sim-s", "/drift/report", "/templates", "/agents", "/agents/sim-s", "/observations/rejected"} {
		api.WriteString(s.raw(p))
	}
	for _, d := range s.detected() {
		api.WriteString(s.raw("/drift/events/" + d.DriftID))
	}
	if l := leaks(api.Bytes(), secrets); len(l) > 0 {
		t.Errorf("API answers hold %d canaries", len(l))
	}
	if code := s.do(http.MethodGet, "/drift/cis/sim-s", nil, nil); code != http.StatusOK {
		t.Fatalf("GET /drift/cis/sim-s: %d", code)
	}
	// Redis: every key of every type, streams included.
	if l := leaks(s.redisDump(), secrets); len(l) > 0 {
		t.Errorf("Redis holds %d canaries", len(l))
	}
	// The agent's log and its state directory on the node.
	logs, _ := exec.Command("docker", "logs", n.name).CombinedOutput()
	if l := leaks(logs, secrets); len(l) > 0 {
		t.Errorf("the agent's log holds %d canaries", len(l))
	}
	state, err := exec.Command("docker", "exec", n.name, "tar", "cf", "-", "/var/lib/driftwatch-agent").Output()
	if err != nil || len(state) == 0 {
		t.Fatalf("read the agent's state dir: %v", err)
	}
	if l := leaks(state, secrets); len(l) > 0 {
		t.Errorf("the agent's state dir holds %d canaries", len(l))
	}
	// The event store, read models and embedded files, byte for byte, once the server stopped;
	// and the server's log.
	s.Stop()
	var store bytes.Buffer
	err = filepath.WalkDir(s.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		store.Write(b)
		return err
	})
	if err != nil || store.Len() == 0 {
		t.Fatalf("read the data dir: %v (%d bytes)", err, store.Len())
	}
	if !bytes.Contains(store.Bytes(), []byte("io.driftwatch.drift.detected.v1")) {
		t.Fatal("the event store holds no drift: it is not the store the pipeline wrote")
	}
	if l := leaks(store.Bytes(), secrets); len(l) > 0 {
		t.Errorf("the event store holds %d canaries", len(l))
	}
	if l := leaks([]byte(s.Output.String()), secrets); len(l) > 0 {
		t.Errorf("the server's log holds %d canaries", len(l))
	}
	// The canaries are really in the node's files: the test would prove nothing otherwise.
	onNode := n.sh("cat /etc/app/app.conf /etc/app/tls.key /etc/sysctl.conf /etc/sudoers /etc/shadow /etc/app/big.dat /etc/app/vault.conf /etc/app/blob.bin")
	if l := leaks([]byte(onNode), after); len(l) != 20 {
		t.Fatalf("only %d of the 20 new canaries are on the node", len(l))
	}
}

// mkdir creates /etc/<name> in a container that is not running, by copying an empty
// directory in.
func (n *node) mkdir(name string) {
	n.t.Helper()
	dir := filepath.Join(n.t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		n.t.Fatal(err)
	}
	docker(n.t, "cp", "-a", dir, n.name+":/etc/"+name)
}
