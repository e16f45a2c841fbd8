package stdwebhook_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/internal/testsupport/testenv"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

type vector struct {
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

func vectors(t *testing.T) []vector {
	t.Helper()
	var doc struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(testenv.ConformanceFile(t, "standard-webhooks", "vectors.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return doc.Vectors
}

func TestSignMatchesEveryConformanceVector(t *testing.T) {
	t.Parallel()
	for _, v := range vectors(t) {
		key, err := stdwebhook.ParseSecret(v.Secret)
		if err != nil {
			t.Fatal(err)
		}
		got, err := stdwebhook.Sign([][]byte{key}, v.ID, time.Unix(v.Timestamp, 0), []byte(v.Payload))
		if err != nil || got != v.Signature {
			t.Errorf("%s: signature %q, %v; want %q", v.ID, got, err, v.Signature)
		}
	}
}

func TestVerifyAcceptsTheVectorsAndRejectsEveryAlteration(t *testing.T) {
	t.Parallel()
	for _, v := range vectors(t) {
		key, _ := stdwebhook.ParseSecret(v.Secret)
		at := time.Unix(v.Timestamp, 0)
		headers := func() http.Header {
			h := http.Header{}
			h.Set(stdwebhook.HeaderID, v.ID)
			h.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(v.Timestamp, 10))
			h.Set(stdwebhook.HeaderSignature, v.Signature)
			return h
		}
		if err := stdwebhook.Verify([][]byte{key}, headers(), []byte(v.Payload), at.Add(time.Minute)); err != nil {
			t.Fatalf("%s: %v", v.ID, err)
		}
		// Any altered byte of the payload.
		for i := range len(v.Payload) {
			p := []byte(v.Payload)
			p[i] ^= 0x01
			if stdwebhook.Verify([][]byte{key}, headers(), p, at) == nil {
				t.Fatalf("%s: payload with byte %d altered verified", v.ID, i)
			}
		}
		if stdwebhook.Verify([][]byte{key}, headers(), []byte(v.Payload+" "), at) == nil {
			t.Fatalf("%s: payload with a byte added verified", v.ID)
		}
		// A timestamp more than five minutes off, either way.
		for _, off := range []time.Duration{6 * time.Minute, -6 * time.Minute} {
			if err := stdwebhook.Verify([][]byte{key}, headers(), []byte(v.Payload), at.Add(off)); err == nil || !strings.Contains(err.Error(), "away from now") {
				t.Fatalf("%s: clock %s off: %v", v.ID, off, err)
			}
		}
		// Each missing header.
		for _, name := range []string{stdwebhook.HeaderID, stdwebhook.HeaderTimestamp, stdwebhook.HeaderSignature} {
			h := headers()
			h.Del(name)
			if err := stdwebhook.Verify([][]byte{key}, h, []byte(v.Payload), at); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s: without %s: %v", v.ID, name, err)
			}
		}
		// An altered id or timestamp header breaks the signature too.
		h := headers()
		h.Set(stdwebhook.HeaderID, v.ID+"x")
		if stdwebhook.Verify([][]byte{key}, h, []byte(v.Payload), at) == nil {
			t.Fatalf("%s: altered id verified", v.ID)
		}
		h = headers()
		h.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(v.Timestamp+1, 10))
		if stdwebhook.Verify([][]byte{key}, h, []byte(v.Payload), at) == nil {
			t.Fatalf("%s: altered timestamp verified", v.ID)
		}
	}
}

func TestRotatedSecretsSignTwiceAndEitherVerifies(t *testing.T) {
	t.Parallel()
	old, _ := stdwebhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	next, _ := stdwebhook.ParseSecret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	at := time.Unix(1767225600, 0)
	h := http.Header{}
	if err := stdwebhook.SetHeaders(h, [][]byte{old, next}, "msg_1", at, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(h.Get(stdwebhook.HeaderSignature))); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
	for _, key := range [][]byte{old, next} {
		if err := stdwebhook.Verify([][]byte{key}, h, []byte(`{}`), at); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := stdwebhook.ParseSecret("whsec_" + strings.Repeat("A", 32))
	if stdwebhook.Verify([][]byte{other}, h, []byte(`{}`), at) == nil {
		t.Fatal("a secret not in force verified")
	}
}
