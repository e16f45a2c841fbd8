package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/handlers/action"
	"github.com/driftwatch/driftwatch/handlers/action/ansible"
	"github.com/driftwatch/driftwatch/handlers/action/script"
	"github.com/driftwatch/driftwatch/handlers/action/servicenow"
	"github.com/driftwatch/driftwatch/handlers/action/ticketwebhook"
	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// remediationConfig is how the action stage remediates and opens tickets; flags win over the
// environment. Secrets come from the environment only.
type remediationConfig struct {
	// PlaybookDir is the allowlisted directory of remediation playbooks, <id>.yml
	// ($DRIFTWATCH_PLAYBOOK_DIR); default empty: no playbook runs.
	PlaybookDir string
	// PlaybookInventory is an inventory linked into every playbook run
	// ($DRIFTWATCH_PLAYBOOK_INVENTORY); default a generated one whose host is the CI, local.
	PlaybookInventory string
	// ScriptDir is the allowlisted directory of remediation scripts: every executable file
	// in it is a script, its id the file name without extension ($DRIFTWATCH_SCRIPT_DIR);
	// default empty: no script runs.
	ScriptDir string
	// Concurrency is how many playbook runs may go at once ($DRIFTWATCH_REMEDIATION_CONCURRENCY);
	// default 2.
	Concurrency int
	// MaxFailures stops the playbook rollout after that many failed runs in a row
	// ($DRIFTWATCH_REMEDIATION_MAX_FAILURES); default 5, negative: never.
	MaxFailures int
	// Attempts is how many remediation attempts a drift gets before it escalates
	// ($DRIFTWATCH_REMEDIATION_ATTEMPTS); default 3.
	Attempts int
	// RecheckAfter is how long a successful remediation may go without a verdict showing
	// the drift repaired before it counts as still drifted ($DRIFTWATCH_REMEDIATION_RECHECK_AFTER);
	// default 10m.
	RecheckAfter time.Duration
	// ServiceNowURL is the ServiceNow instance for change requests and incidents
	// ($DRIFTWATCH_SERVICENOW_URL), with $DRIFTWATCH_SERVICENOW_USER and
	// $DRIFTWATCH_SERVICENOW_PASSWORD, or $DRIFTWATCH_SERVICENOW_TOKEN; default none.
	ServiceNowURL string
	// ServiceNowCMDBCIs says CI ids are the names of the instance's CMDB records
	// ($DRIFTWATCH_SERVICENOW_CMDB_CIS): tickets name their cmdb_ci, and a drift on a CI with
	// an approved change request in its implementation window is planned, naming that
	// change; default false.
	ServiceNowCMDBCIs bool
	// TicketWebhookURL receives tickets as signed webhooks instead
	// ($DRIFTWATCH_TICKET_WEBHOOK_URL), signed with the comma-separated
	// $DRIFTWATCH_TICKET_WEBHOOK_SECRETS; default none.
	TicketWebhookURL string
}

// remediationFlags adds the remediation flags to fs.
func remediationFlags(fs *flag.FlagSet, c *remediationConfig) error {
	fs.StringVar(&c.PlaybookDir, "playbook-dir", env("DRIFTWATCH_PLAYBOOK_DIR", ""), "allowlisted directory of remediation playbooks (<id>.yml); empty: none")
	fs.StringVar(&c.PlaybookInventory, "playbook-inventory", env("DRIFTWATCH_PLAYBOOK_INVENTORY", ""), "inventory for playbook runs; empty: the CI as a local host")
	fs.StringVar(&c.ScriptDir, "script-dir", env("DRIFTWATCH_SCRIPT_DIR", ""), "allowlisted directory of remediation scripts; empty: none")
	fs.StringVar(&c.ServiceNowURL, "servicenow-url", env("DRIFTWATCH_SERVICENOW_URL", ""), "ServiceNow instance for change requests and incidents (https://example.service-now.com)")
	fs.BoolVar(&c.ServiceNowCMDBCIs, "servicenow-cmdb-cis", env("DRIFTWATCH_SERVICENOW_CMDB_CIS", "") == "1" || env("DRIFTWATCH_SERVICENOW_CMDB_CIS", "") == "true",
		"CI ids are ServiceNow CMDB names: tickets name their cmdb_ci, and drifts in an approved change's implementation window are planned")
	fs.StringVar(&c.TicketWebhookURL, "ticket-webhook-url", env("DRIFTWATCH_TICKET_WEBHOOK_URL", ""), "endpoint that receives tickets as signed webhooks")
	for _, n := range []struct {
		p        *int
		name     string
		key, def string
		usage    string
	}{
		{&c.Concurrency, "remediation-concurrency", "DRIFTWATCH_REMEDIATION_CONCURRENCY", "2", "playbook runs at once"},
		{&c.MaxFailures, "remediation-max-failures", "DRIFTWATCH_REMEDIATION_MAX_FAILURES", "5", "failed playbook runs in a row that stop the rollout (negative: never)"},
		{&c.Attempts, "remediation-attempts", "DRIFTWATCH_REMEDIATION_ATTEMPTS", "3", "remediation attempts before a drift escalates to an incident"},
	} {
		v, err := strconv.Atoi(env(n.key, n.def))
		if err != nil {
			return fmt.Errorf("%s: %w", n.key, err)
		}
		fs.IntVar(n.p, n.name, v, n.usage)
	}
	after, err := time.ParseDuration(env("DRIFTWATCH_REMEDIATION_RECHECK_AFTER", "10m"))
	if err != nil {
		return fmt.Errorf("DRIFTWATCH_REMEDIATION_RECHECK_AFTER: %w", err)
	}
	fs.DurationVar(&c.RecheckAfter, "remediation-recheck-after", after, "a successful remediation not confirmed by a verdict this long counts as still drifted")
	return nil
}

func (c remediationConfig) validate() error {
	var errs []error
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--remediation-concurrency: %d must be at least 1", c.Concurrency))
	}
	if c.Attempts < 1 {
		errs = append(errs, fmt.Errorf("--remediation-attempts: %d must be at least 1", c.Attempts))
	}
	if c.RecheckAfter <= 0 {
		errs = append(errs, fmt.Errorf("--remediation-recheck-after: %s must be positive", c.RecheckAfter))
	}
	if c.MaxFailures == 0 {
		errs = append(errs, errors.New("--remediation-max-failures: must not be 0 (negative: never stop)"))
	}
	if c.ServiceNowURL != "" && c.TicketWebhookURL != "" {
		errs = append(errs, errors.New("--servicenow-url, --ticket-webhook-url: choose one ITSM system"))
	}
	if c.ServiceNowCMDBCIs && c.ServiceNowURL == "" {
		errs = append(errs, errors.New("--servicenow-cmdb-cis: needs --servicenow-url"))
	}
	return errors.Join(errs...)
}

// scriptID is what a script's id looks like (see script.Config.Scripts).
var scriptID = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// scripts lists the executables of the script directory by id.
func scripts(dir string) (map[string]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--script-dir: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		id := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if !scriptID.MatchString(id) {
			continue
		}
		out[id] = filepath.Join(dir, e.Name())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--script-dir: %s holds no executable script", dir)
	}
	return out, nil
}

// remediators registers the playbook, script and ticket executors the configuration asks
// for, and says in missing how to get the others.
func (a *app) remediators(reg *action.Registry) error {
	c := a.cfg.Remediation
	var missing []string
	if c.PlaybookDir != "" {
		e, err := ansible.New(ansible.Config{
			PlaybookDir: c.PlaybookDir, DataDir: filepath.Join(a.cfg.DataDir, "playbook-runs"), Inventory: c.PlaybookInventory,
			MaxConcurrent: c.Concurrency, MaxFailures: c.MaxFailures,
		}, a.log.Named("ansible"))
		if err != nil {
			return fmt.Errorf("--playbook-dir: %w", err)
		}
		if err := reg.Register(e, drift.ActionKindPlaybook); err != nil {
			return err
		}
	} else {
		missing = append(missing, "--playbook-dir for playbooks")
	}
	if c.ScriptDir != "" {
		ids, err := scripts(c.ScriptDir)
		if err != nil {
			return err
		}
		e, err := script.New(script.Config{Scripts: ids, StateDir: filepath.Join(a.cfg.DataDir, "script-runs")})
		if err != nil {
			return fmt.Errorf("--script-dir: %w", err)
		}
		if err := reg.Register(e, drift.ActionKindScript); err != nil {
			return err
		}
	} else {
		missing = append(missing, "--script-dir for scripts")
	}
	tickets, err := a.tickets()
	if err != nil {
		return err
	}
	if tickets != nil {
		if err := reg.Register(action.Ticketing{Tickets: tickets}, action.TicketKinds...); err != nil {
			return err
		}
	} else {
		missing = append(missing, "--servicenow-url or --ticket-webhook-url for tickets")
	}
	if len(missing) > 0 {
		if reg.Missing != "" {
			reg.Missing += "; "
		}
		reg.Missing += "set " + strings.Join(missing, ", ")
	}
	return nil
}

// tickets is the configured ITSM system, or nil.
func (a *app) tickets() (action.Tickets, error) {
	c := a.cfg.Remediation
	switch {
	case c.ServiceNowURL != "":
		return a.serviceNow()
	case c.TicketWebhookURL != "":
		var secrets []string
		for _, s := range strings.Split(os.Getenv("DRIFTWATCH_TICKET_WEBHOOK_SECRETS"), ",") {
			if s = strings.TrimSpace(s); s != "" {
				secrets = append(secrets, s)
			}
		}
		t, err := ticketwebhook.New(ticketwebhook.Config{URL: c.TicketWebhookURL, Secrets: secrets}, nil)
		if err != nil {
			return nil, fmt.Errorf("--ticket-webhook-url: %w", err)
		}
		return t, nil
	}
	return nil, nil
}

// serviceNow is a client of the configured ServiceNow instance.
func (a *app) serviceNow() (*servicenow.Client, error) {
	c := a.cfg.Remediation
	t, err := servicenow.New(servicenow.Config{
		Instance: c.ServiceNowURL, Username: os.Getenv("DRIFTWATCH_SERVICENOW_USER"),
		Password: os.Getenv("DRIFTWATCH_SERVICENOW_PASSWORD"), Token: os.Getenv("DRIFTWATCH_SERVICENOW_TOKEN"),
		CIsInCMDB: c.ServiceNowCMDBCIs,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("--servicenow-url: %w", err)
	}
	return t, nil
}

// changeTTL is how long the change calendar's answers are reused (see action.CacheChanges).
const changeTTL = time.Minute

// planner is the process's action planner, with the ServiceNow change calendar when CI ids
// are CMDB names. The action stage plans with it; the notify stage asks it whether an
// opening drift is planned: in one process both share its calendar cache, so a drift's
// opening costs the calendar one query.
func (a *app) planner() (*action.Planner, error) {
	if a.actionPlanner != nil {
		return a.actionPlanner, nil
	}
	deps := action.PlannerDeps{Store: a.store, Now: a.now, Logger: a.log.Named("action")}
	if c := a.cfg.Remediation; c.ServiceNowURL != "" && c.ServiceNowCMDBCIs {
		sn, err := a.serviceNow()
		if err != nil {
			return nil, err
		}
		deps.Changes = action.CacheChanges(sn, changeTTL, a.now)
	}
	p, err := action.NewPlanner(deps)
	if err != nil {
		return nil, err
	}
	a.actionPlanner = p
	return p, nil
}
