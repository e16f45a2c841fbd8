package credential_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/agent/credential"
	"github.com/driftwatch/driftwatch/pipeline/event"
)

func TestKeysAreCreatedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "agent.key")
	k1, created, err := credential.LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v (created %v)", err, created)
	}
	k2, created, err := credential.LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("load: %v (created %v, same %v)", err, created, bytes.Equal(k1, k2))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	raw, _ := os.ReadFile(path)
	if !bytes.HasPrefix(raw, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("not PKCS#8 PEM: %q", raw[:20])
	}
	s1, err := credential.LoadOrCreateSecret(filepath.Join(dir, "fp.key"), 32)
	s2, _ := credential.LoadOrCreateSecret(filepath.Join(dir, "fp.key"), 32)
	if err != nil || len(s1) != 32 || !bytes.Equal(s1, s2) {
		t.Fatalf("secret %x then %x (%v)", s1, s2, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.key"), []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := credential.LoadOrCreateKey(filepath.Join(dir, "bad.key")); err == nil {
		t.Fatal("a broken key file was accepted")
	}
}

func TestEnrolPostsTheKeyWithTheOperatorsToken(t *testing.T) {
	t.Parallel()
	var got credential.Enrolment
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/agents" || r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
			http.Error(w, `{"title":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	key, _, err := credential.LoadOrCreateKey(filepath.Join(t.TempDir(), "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	e := credential.NewEnrolment("node-1", []string{"node-1"}, key)
	if err := credential.Enrol(t.Context(), srv.Client(), srv.URL+"/", "tok-0123456789abcdef", e); err != nil {
		t.Fatal(err)
	}
	if got.AgentID != "node-1" || got.Algorithm != event.KeyAlgorithmEd25519 || got.PublicKey != e.PublicKey {
		t.Fatalf("posted %+v", got)
	}
	err = credential.Enrol(t.Context(), srv.Client(), srv.URL, "wrong", e)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a refused enrolment gave %v", err)
	}
}
