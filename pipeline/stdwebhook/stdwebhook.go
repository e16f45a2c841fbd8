// Package stdwebhook signs and verifies webhooks per the Standard Webhooks scheme: the
// headers webhook-id, webhook-timestamp (Unix seconds) and webhook-signature, which holds one
// or more space-separated "v1,<base64 HMAC-SHA256>" signatures over id.timestamp.payload.
// Several secrets may be in force at once, so that one can be rotated without a gap. It
// imports the standard library only.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the scheme.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a secret in its textual form: "whsec_" and the base64 key.
const SecretPrefix = "whsec_"

// Tolerance is how far a webhook's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// ParseSecret decodes a secret given as "whsec_<base64>" (or bare base64) into its key.
func ParseSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret: not whsec_ and a base64 key")
	}
	return key, nil
}

// Sign returns the webhook-signature header for a message: one "v1," signature per secret,
// space-separated, in the order of secrets.
func Sign(secrets [][]byte, id string, ts time.Time, payload []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("sign webhook: no secret")
	}
	if id == "" {
		return "", errors.New("sign webhook: webhook-id is empty")
	}
	sigs := make([]string, len(secrets))
	for i, key := range secrets {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), payload))
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders signs payload and sets the three headers on h.
func SetHeaders(h http.Header, secrets [][]byte, id string, ts time.Time, payload []byte) error {
	sig, err := Sign(secrets, id, ts, payload)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks the headers of a received webhook against payload: every header present, the
// timestamp within Tolerance of now, and at least one v1 signature that matches one of the
// secrets (compared in constant time). The error names what is wrong.
func Verify(secrets [][]byte, h http.Header, payload []byte, now time.Time) error {
	id, ts, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	var missing []string
	for name, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: sig} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("webhook: missing header %s", strings.Join(missing, ", "))
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %s %q is not Unix seconds", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhook: %s is %s away from now, more than %s", HeaderTimestamp, d.Abs().Round(time.Second), Tolerance)
	}
	for _, part := range strings.Fields(sig) {
		version, value, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			continue
		}
		for _, key := range secrets {
			if hmac.Equal(got, mac(key, id, sec, payload)) {
				return nil
			}
		}
	}
	return errors.New("webhook: no signature matches")
}

func mac(key []byte, id string, ts int64, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}
