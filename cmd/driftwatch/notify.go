package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/pagerduty"
	"github.com/driftwatch/driftwatch/handlers/notify/slack"
	"github.com/driftwatch/driftwatch/handlers/notify/smtp"
	"github.com/driftwatch/driftwatch/handlers/notify/webhook"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/router"
)

// notifyFile is the --notify-config file (YAML or JSON). Secrets are never in it: it names
// the environment variables that hold them (the *_env keys).
type notifyFile struct {
	// PublicURL is the dashboard's address as people reach it; notifications link there.
	PublicURL string `yaml:"public_url"`
	// MaxAge: lifecycle facts older than this are not told (default 6h).
	MaxAge time.Duration `yaml:"max_age"`
	// SMTP is the mail server of every email receiver and of the addresses in policies'
	// notify lists.
	SMTP *smtpFile `yaml:"smtp"`
	// Receivers are the named destinations.
	Receivers []receiverFile `yaml:"receivers"`
	// Routes say which drifts go to which receivers.
	Routes []routeFile `yaml:"routes"`
}

type smtpFile struct {
	Addr        string        `yaml:"addr"`
	From        string        `yaml:"from"`
	LocalName   string        `yaml:"local_name"`
	RequireTLS  bool          `yaml:"require_tls"`
	Username    string        `yaml:"username"`
	PasswordEnv string        `yaml:"password_env"`
	Timeout     time.Duration `yaml:"timeout"`
}

type receiverFile struct {
	Name      string         `yaml:"name"`
	Email     *emailFile     `yaml:"email"`
	Slack     *slackFile     `yaml:"slack"`
	PagerDuty *pagerDutyFile `yaml:"pagerduty"`
	Webhook   *webhookFile   `yaml:"webhook"`
}

type emailFile struct {
	To []string `yaml:"to"`
}

type slackFile struct {
	// WebhookURLEnv names the variable holding the incoming webhook's URL (a secret).
	WebhookURLEnv string        `yaml:"webhook_url_env"`
	Timeout       time.Duration `yaml:"timeout"`
}

type pagerDutyFile struct {
	RoutingKeyEnv string        `yaml:"routing_key_env"`
	URL           string        `yaml:"url"`
	Timeout       time.Duration `yaml:"timeout"`
}

type webhookFile struct {
	URL string `yaml:"url"`
	// SecretsEnv names the variables holding the signing secrets, new and old while one
	// rotates.
	SecretsEnv []string `yaml:"secrets_env"`
	// HeadersEnv maps extra header names to the variables holding their values.
	HeadersEnv map[string]string `yaml:"headers_env"`
	Timeout    time.Duration     `yaml:"timeout"`
}

type routeFile struct {
	Receivers   []string         `yaml:"receivers"`
	MinSeverity drift.Severity   `yaml:"min_severity"`
	Categories  []drift.Category `yaml:"categories"`
	Events      []notify.Event   `yaml:"events"`
}

// yamlUnknown matches yaml.v3's unknown-key errors: "line 3: field foo not found in type ...".
var yamlUnknown = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// loadNotifyConfig reads the --notify-config file strictly (an unknown key names the file,
// line and key), takes the secrets from the variables it names, and builds the senders.
// Every problem is reported at once.
func loadNotifyConfig(path string, getenv func(string) string) (notify.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return notify.Config{}, fmt.Errorf("--notify-config: %w", err)
	}
	var f notifyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				if m := yamlUnknown.FindStringSubmatch(e); m != nil {
					msgs[i] = fmt.Sprintf("%s:%s: unknown key %q", path, m[1], m[2])
				} else {
					msgs[i] = fmt.Sprintf("%s: %s", path, e)
				}
			}
			return notify.Config{}, errors.New(strings.Join(msgs, "\n"))
		}
		return notify.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := f.build(getenv)
	if err != nil {
		return notify.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func (f notifyFile) build(getenv func(string) string) (notify.Config, error) {
	var errs []error
	secret := func(where, name string) string {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: required", where))
			return ""
		}
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: the variable %s is not set", where, name))
		}
		return v
	}
	var mailCfg smtp.Config
	if f.SMTP != nil {
		mailCfg = smtp.Config{Addr: f.SMTP.Addr, From: f.SMTP.From, LocalName: f.SMTP.LocalName, RequireTLS: f.SMTP.RequireTLS,
			Username: f.SMTP.Username, Timeout: f.SMTP.Timeout}
		if f.SMTP.Username != "" {
			mailCfg.Password = secret("smtp.password_env", f.SMTP.PasswordEnv)
		}
	}
	cfg := notify.Config{PublicURL: f.PublicURL, MaxAge: f.MaxAge}
	for i, r := range f.Receivers {
		where := fmt.Sprintf("receivers[%d] (%s)", i, r.Name)
		rcv := notify.Receiver{Name: r.Name}
		var err error
		kinds := 0
		if r.Email != nil {
			kinds++
			rcv.Kind = notify.KindEmail
			if f.SMTP == nil {
				errs = append(errs, fmt.Errorf("%s: email: needs the smtp server", where))
			} else {
				c := mailCfg
				c.To = r.Email.To
				rcv.Sender, err = smtp.New(c)
			}
		}
		if r.Slack != nil {
			kinds++
			rcv.Kind = notify.KindSlack
			rcv.Sender, err = slack.New(slack.Config{WebhookURL: secret(where+": slack.webhook_url_env", r.Slack.WebhookURLEnv), Timeout: r.Slack.Timeout})
		}
		if r.PagerDuty != nil {
			kinds++
			rcv.Kind = notify.KindPagerDuty
			rcv.Sender, err = pagerduty.New(pagerduty.Config{RoutingKey: secret(where+": pagerduty.routing_key_env", r.PagerDuty.RoutingKeyEnv),
				URL: r.PagerDuty.URL, ClientURL: f.PublicURL, Timeout: r.PagerDuty.Timeout})
		}
		if r.Webhook != nil {
			kinds++
			rcv.Kind = notify.KindWebhook
			c := webhook.Config{URL: r.Webhook.URL, Timeout: r.Webhook.Timeout}
			for j, name := range r.Webhook.SecretsEnv {
				c.Secrets = append(c.Secrets, secret(fmt.Sprintf("%s: webhook.secrets_env[%d]", where, j), name))
			}
			for h, name := range r.Webhook.HeadersEnv {
				if c.Headers == nil {
					c.Headers = map[string]string{}
				}
				c.Headers[h] = secret(fmt.Sprintf("%s: webhook.headers_env[%s]", where, h), name)
			}
			rcv.Sender, err = webhook.New(c)
		}
		if kinds != 1 {
			errs = append(errs, fmt.Errorf("%s: set exactly one of email, slack, pagerduty, webhook", where))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		cfg.Routing.Receivers = append(cfg.Routing.Receivers, rcv)
	}
	for _, rt := range f.Routes {
		cfg.Routing.Routes = append(cfg.Routing.Routes, notify.Route{Receivers: rt.Receivers, MinSeverity: rt.MinSeverity, Categories: rt.Categories, Events: rt.Events})
	}
	if f.SMTP != nil {
		if _, err := smtp.New(withTo(mailCfg, "check@example.com")); err != nil {
			errs = append(errs, fmt.Errorf("smtp: %w", err))
		}
		cfg.Routing.Addressed = addressed(mailCfg)
	}
	if err := errors.Join(errs...); err != nil {
		return notify.Config{}, err
	}
	// The stage validates the routing as a whole.
	if err := cfg.Validate(); err != nil {
		return notify.Config{}, err
	}
	return cfg, nil
}

func withTo(c smtp.Config, to ...string) smtp.Config {
	c.To = to
	return c
}

// addressed builds, once per address, the receiver of an address in a policy's notify list.
func addressed(c smtp.Config) func(string) (notify.Receiver, error) {
	var mu sync.Mutex
	built := map[string]notify.Receiver{}
	return func(address string) (notify.Receiver, error) {
		mu.Lock()
		defer mu.Unlock()
		if r, ok := built[address]; ok {
			return r, nil
		}
		s, err := smtp.New(withTo(c, address))
		if err != nil {
			return notify.Receiver{}, err
		}
		r := notify.Receiver{Name: "mailto:" + address, Kind: notify.KindEmail, Sender: s}
		built[address] = r
		return r, nil
	}
}

// addNotify joins the notify stage's handlers to the router.
func (a *app) addNotify() error {
	if a.cfg.NotifyConfig == "" {
		return errors.New("--notify-config: the notify stage needs a notification config")
	}
	cfg, err := loadNotifyConfig(a.cfg.NotifyConfig, os.Getenv)
	if err != nil {
		return err
	}
	planner, err := a.planner()
	if err != nil {
		return err
	}
	ss, err := notify.NewStages(cfg, notify.Deps{Store: a.store, Now: a.now, Planning: planner})
	if err != nil {
		return err
	}
	return errors.Join(
		router.Add(a.router, notify.DetectedName, notify.DetectedTopic, ss.Detected),
		router.Add(a.router, notify.AcknowledgedName, notify.AcknowledgedTopic, ss.Acknowledged),
		router.Add(a.router, notify.ResolvedName, notify.ResolvedTopic, ss.Resolved),
		router.Add(a.router, notify.EscalatedName, notify.EscalatedTopic, ss.Escalated),
	)
}
