package ansible_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/driftwatch/driftwatch/handlers/source/ansible"
)

// post is one request the facts server received.
type post struct {
	method, path, auth, contentType string
	body                            []byte
}

// factsServer answers every request with status and records it.
type factsServer struct {
	*httptest.Server
	mu    sync.Mutex
	posts []post
}

func newFactsServer(t *testing.T, status int) *factsServer {
	t.Helper()
	s := &factsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, post{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *factsServer) received() []post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// runPlaybook runs collect-facts.yml over the inventory with the given token in the
// controller's environment and extra vars; it returns the combined output and the exit error.
func runPlaybook(t *testing.T, inventory, token string, extra ...string) (string, error) {
	t.Helper()
	needAnsible(t, "ansible-playbook")
	playbook := filepath.Join("..", "..", "..", "deploy", "ansible", "collect-facts.yml")
	ctx, cancel := context.WithTimeout(context.Background(), ansibleTimeout)
	defer cancel()
	args := []string{"-i", inventory, "-c", "local", playbook}
	for _, e := range extra {
		args = append(args, "-e", e)
	}
	cmd := exec.CommandContext(ctx, "ansible-playbook", args...)
	cmd.Env = append(ansibleEnv(t.TempDir()), "DRIFTWATCH_TOKEN="+token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestCollectFactsPostsOneDocumentPerHost(t *testing.T) {
	t.Parallel()
	srv := newFactsServer(t, http.StatusAccepted)
	token := "tok-" + uuid.NewString()
	out, err := runPlaybook(t, "localhost,node-b,", token, "driftwatch_url="+srv.URL+"/")
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	if strings.Contains(out, token) {
		t.Error("the playbook printed the token")
	}
	posts := srv.received()
	if len(posts) != 2 {
		t.Fatalf("%d posts, want one per host", len(posts))
	}
	rules := shippedRules(t)
	var hosts []string
	for _, p := range posts {
		if p.method != http.MethodPost || p.path != "/facts" || p.auth != "Bearer "+token || !strings.HasPrefix(p.contentType, "application/json") {
			t.Errorf("request %s %s, authorization %q, content type %q", p.method, p.path, p.auth, p.contentType)
		}
		if bytes.Contains(p.body, []byte(token)) {
			t.Error("the facts document carries the token (the env fact leaked)")
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(p.body, &doc); err != nil || len(doc) != 2 || doc["host"] == nil || doc["ansible_facts"] == nil {
			t.Errorf("body is not a facts document: %.200s", p.body)
		}
		f, err := ansible.Parse(p.body)
		if err != nil {
			t.Errorf("parse the posted document: %v", err)
			continue
		}
		obs, err := f.Observation(rules)
		if err != nil {
			t.Errorf("observe the posted document: %v", err)
			continue
		}
		if want := []string{"compliance", "firmware", "packages", "services"}; !slices.Equal(obs.Scope, want) {
			t.Errorf("host %s: scope %v, want %v", obs.CIID, obs.Scope, want)
		}
		hosts = append(hosts, obs.CIID)
	}
	slices.Sort(hosts)
	if !slices.Equal(hosts, []string{"localhost", "node-b"}) {
		t.Errorf("hosts %v, want the inventory's localhost and node-b", hosts)
	}
	// The playbook's packages are those package_facts reports on its own.
	_, pkgs, _ := realFacts(t)
	alone, err := ansible.Parse(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	posted, err := ansible.Parse(posts[0].body)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(alone.State()["packages"])
	b, _ := json.Marshal(posted.State()["packages"])
	if !bytes.Equal(a, b) {
		t.Error("the posted packages differ from package_facts' own")
	}
}

func TestCollectFactsFailsOnARefusedPost(t *testing.T) {
	t.Parallel()
	srv := newFactsServer(t, http.StatusUnauthorized)
	token := "tok-" + uuid.NewString()
	out, err := runPlaybook(t, "localhost,", token, "driftwatch_url="+srv.URL)
	if err == nil {
		t.Fatalf("ansible-playbook succeeded although the server answered 401:\n%s", out)
	}
	if len(srv.received()) != 1 {
		t.Errorf("%d posts, want 1", len(srv.received()))
	}
	if strings.Contains(out, token) {
		t.Errorf("the failed POST printed the token:\n%s", out)
	}
	if !strings.Contains(out, "/facts answered 401") {
		t.Errorf("the playbook does not say why it failed:\n%s", out)
	}
}

func TestCollectFactsRequiresAToken(t *testing.T) {
	t.Parallel()
	srv := newFactsServer(t, http.StatusAccepted)
	out, err := runPlaybook(t, "localhost,", "", "driftwatch_url="+srv.URL)
	if err == nil {
		t.Fatalf("ansible-playbook succeeded without a token:\n%s", out)
	}
	if n := len(srv.received()); n != 0 {
		t.Errorf("%d posts without a token", n)
	}
	if !strings.Contains(out, "set driftwatch_token") {
		t.Errorf("the playbook does not say that the token is missing:\n%s", out)
	}
}
