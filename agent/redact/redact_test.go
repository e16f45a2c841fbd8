package redact_test

import (
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/agent/redact"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func redactor(t *testing.T, hashOnly, patterns []string) *redact.Redactor {
	t.Helper()
	r, err := redact.New(key, hashOnly, patterns)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMaskHidesSecretValuesAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	r := redactor(t, nil, []string{`(?i)license[ _]blob\s+(\S+)`, `vault:(?P<secret>[a-z0-9]+)`})
	cases := map[string]struct {
		in, secret, kept string
	}{
		"masks_a_password_assignment":              {"password = s3cr3tvalue\n", "s3cr3tvalue", "password = "},
		"masks_a_yaml_secret":                      {"db_password: hunter2hunter\n", "hunter2hunter", "db_password: "},
		"masks_an_exported_secret_key":             {"export AWS_SECRET_ACCESS_KEY=AKIAsecretvalue\n", "AKIAsecretvalue", "export AWS_SECRET_ACCESS_KEY="},
		"masks_a_quoted_json_member_keeping_comma": {`  "api_key": "k-12345678",` + "\n", "k-12345678", `"api_key": `},
		"masks_a_token_with_spaces_in_the_value":   {"auth_token :  abc def ghi  \n", "abc def ghi", "auth_token :  "},
		"masks_a_commented_out_passphrase":         {"# passphrase = oldpassphrase\n", "oldpassphrase", "# passphrase = "},
		"masks_the_password_of_a_url":              {"url = redis://app:urlpass99@db:6379/0\n", "urlpass99", "redis://app:"},
		"masks_a_member_inside_an_inline_object":   {`{"password": "in-line-secret", "user": "svc"}` + "\n", "in-line-secret", `"user": "svc"}`},
		"masks_a_query_parameter":                  {"GET /api?user=a&access_token=qwerty123&x=1\n", "qwerty123", "&x=1"},
		"masks_a_command_line_flag":                {"ExecStart=/bin/app --db-password=flagsecret --verbose\n", "flagsecret", " --verbose"},
		"masks_a_configured_pattern_group":         {"License Blob QWERTY123\n", "QWERTY123", "License Blob "},
		"masks_a_named_secret_group":               {"ref vault:abc123xyz end\n", "abc123xyz", "ref vault:"},
		"masks_a_private_key_block": {"x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\nKEYBODYLINE2\n-----END OPENSSH PRIVATE KEY-----\ny\n",
			"KEYBODYLINE2", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + redact.MaskPrefix},
		"masks_an_unterminated_private_key": {"-----BEGIN RSA PRIVATE KEY-----\nMIIEpQTRUNCATED", "MIIEpQTRUNCATED", "-----END UNTERMINATED PRIVATE KEY-----"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := string(r.Mask([]byte(c.in)))
			if strings.Contains(out, c.secret) {
				t.Fatalf("the secret %q is still in %q", c.secret, out)
			}
			if !strings.Contains(out, c.kept) || !strings.Contains(out, redact.MaskPrefix) {
				t.Fatalf("%q lost %q or has no mask", out, c.kept)
			}
			if again := string(r.Mask([]byte(out))); again != out {
				t.Fatalf("masking twice changed %q into %q", out, again)
			}
		})
	}
}

func TestMaskLeavesConfigurationThatIsNoSecretAlone(t *testing.T) {
	t.Parallel()
	r := redactor(t, nil, nil)
	for _, in := range []string{
		"PasswordAuthentication no\n",
		"%sudo\tALL=(ALL:ALL) NOPASSWD: ALL\n",
		"ops ALL=(ALL) PASSWD: /usr/bin/apt\n",
		"PermitRootLogin prohibit-password\n",
		"net.ipv4.ip_forward = 1\n",
		"127.0.0.1 localhost\n",
		"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
	} {
		if out := string(r.Mask([]byte(in))); out != in {
			t.Errorf("%q was changed into %q", in, out)
		}
	}
}

func TestFingerprintsKeepEqualityWithoutRevealingTheSecret(t *testing.T) {
	t.Parallel()
	r := redactor(t, nil, nil)
	a1 := string(r.Mask([]byte("password = alpha-secret\n")))
	a2 := string(r.Mask([]byte("password: alpha-secret\n")))
	b := string(r.Mask([]byte("password = bravo-secret\n")))
	mask := func(s string) string { return s[strings.Index(s, redact.MaskPrefix):] }
	if mask(a1) != mask(a2) {
		t.Errorf("the same secret got two masks: %q and %q", a1, a2)
	}
	if mask(a1) == mask(b) {
		t.Errorf("two secrets got one mask: %q", a1)
	}
	other, _ := redact.New([]byte("another-node-key-0123456789"), nil, nil)
	if string(other.Mask([]byte("password = alpha-secret\n"))) == a1 {
		t.Error("another key gave the same mask: the fingerprint is not keyed")
	}
}

func TestHashOnlyAlwaysCoversShadowAndConfiguredGlobs(t *testing.T) {
	t.Parallel()
	r := redactor(t, []string{"/etc/ssh/ssh_host_*_key", "/srv/vault.conf"}, nil)
	for p, want := range map[string]bool{
		"/etc/shadow": true, "/etc/ssh/ssh_host_ed25519_key": true, "/srv/vault.conf": true,
		"/etc/ssh/ssh_host_ed25519_key.pub": false, "/etc/hosts": false,
	} {
		if got := r.HashOnly(p); got != want {
			t.Errorf("HashOnly(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestNewReportsEveryBadSettingAtOnce(t *testing.T) {
	t.Parallel()
	_, err := redact.New([]byte("short"), []string{"/etc/[x"}, []string{"(unclosed"})
	for _, want := range []string{"fingerprint key", "hash_only[0]", "patterns[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
