package export

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// The SARIF 2.1.0 objects driftwatch writes, fields in the specification's order, and the
// rules and the invocation that describe a run.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	// Results is never nil: an empty array says the run found nothing, null that it failed.
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	EndTimeUTC          string              `json:"endTimeUtc,omitempty"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications,omitempty"`
	Properties          map[string]any      `json:"properties"`
}

type sarifNotification struct {
	Level      string         `json:"level"`
	Message    sarifText      `json:"message"`
	Properties map[string]any `json:"properties,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints sarifFingerprints `json:"partialFingerprints"`
	HostedViewerURI     string            `json:"hostedViewerUri,omitempty"`
	Properties          sarifProps        `json:"properties"`
}

// sarifFingerprints is a struct, not a map, for the 25,000 results of a large run.
type sarifFingerprints struct {
	V1 string `json:"driftwatch/v1"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifProps struct {
	CIID            string          `json:"ci_id"`
	CIType          string          `json:"ci_type"`
	Field           string          `json:"field"`
	Category        drift.Category  `json:"category"`
	Severity        drift.Severity  `json:"severity"`
	Status          string          `json:"status"`
	Desired         json.RawMessage `json:"desired,omitempty"`
	Actual          json.RawMessage `json:"actual,omitempty"`
	PolicyID        string          `json:"policy_id"`
	TemplateID      string          `json:"template_id"`
	TemplateVersion int             `json:"template_version"`
	Planned         bool            `json:"planned"`
	Ticket          string          `json:"ticket"`
	DetectedAt      string          `json:"detected_at,omitempty"`
	URL             string          `json:"url,omitempty"`
}

// categoryRules describes SPEC-080's categories, in rule order.
var categoryRules = []struct {
	category    drift.Category
	name, short string
	full        string
}{
	{drift.CategoryConfiguration, "ConfigurationDrift", "Configuration drift",
		"A configuration setting or managed file of the configuration item differs from what its template wants."},
	{drift.CategoryPackage, "PackageDrift", "Package drift",
		"An installed package, or its version, differs from the template's package set."},
	{drift.CategoryNetwork, "NetworkDrift", "Network drift",
		"An interface, address, route, VLAN or firewall setting differs from the template."},
	{drift.CategoryState, "StateDrift", "State drift",
		"A service, process or other runtime state differs from the template."},
	{drift.CategorySecurity, "SecurityDrift", "Security drift",
		"A security-relevant setting (accounts, permissions, keys, hardening) differs from the template."},
	{drift.CategoryFirmware, "FirmwareDrift", "Firmware drift",
		"The firmware or BIOS version differs from the approved one."},
}

const ruleHelp = "The configuration item no longer matches its template. Remediate it back to the " +
	"desired value with driftwatch, or, when the change was intended, update the template or " +
	"acknowledge the drift. The result's properties hold the desired and actual values, the " +
	"policy and the template version."

// sarifRules makes one rule per category: the known ones in order, then others met in cis.
func sarifRules(cis []CI) ([]sarifRule, map[drift.Category]int) {
	var rules []sarifRule
	index := map[drift.Category]int{}
	add := func(c drift.Category, name, short, full string) {
		level := "warning"
		if c == drift.CategorySecurity {
			level = "error"
		}
		index[c] = len(rules)
		rules = append(rules, sarifRule{
			ID: ruleID(c), Name: name, ShortDescription: sarifText{Text: short},
			FullDescription:      sarifText{Text: full},
			Help:                 sarifText{Text: ruleHelp},
			DefaultConfiguration: sarifConfig{Level: level},
			Properties:           map[string]any{"tags": []string{"drift", string(c)}},
		})
	}
	for _, r := range categoryRules {
		add(r.category, r.name, r.short, r.full)
	}
	var other []drift.Category
	for _, ci := range cis {
		for _, d := range ci.Drifts {
			if _, ok := index[d.Category]; !ok && !slices.Contains(other, d.Category) {
				other = append(other, d.Category)
			}
		}
	}
	slices.Sort(other)
	for _, c := range other {
		name := string(c)
		if name == "" {
			name = "uncategorized"
		}
		add(c, "Drift", "Drift ("+name+")", "A field differs from the template (category "+name+").")
	}
	return rules, index
}

func ruleID(c drift.Category) string {
	if c == "" {
		return "drift/uncategorized"
	}
	return "drift/" + string(c)
}

// sarifLevel maps a severity to a result level.
func sarifLevel(s drift.Severity) string {
	switch s {
	case drift.SeverityCritical, drift.SeverityHigh:
		return "error"
	case drift.SeverityLow:
		return "note"
	}
	return "warning"
}

// unverifiedListed is how many unverified CIs a notification names.
const unverifiedListed = 50

// sarifInvocationOf records the run: success, time, server, filters, the CIs whose drift is
// unknown and the results left out (indexes into all).
func sarifInvocationOf(r Report, cis []CI, all []candidate, omitted []int, tool ToolInfo) sarifInvocation {
	inv := sarifInvocation{ExecutionSuccessful: true, EndTimeUTC: utc(r.Generated),
		Properties: map[string]any{"server": r.Server}}
	if len(r.Filters) > 0 {
		inv.Properties["filters"] = r.Filters
	}
	var ids, names []string
	for _, ci := range cis {
		if !unverified(ci) {
			continue
		}
		ids = append(ids, ci.ID)
		if len(names) < unverifiedListed {
			what := "never verified"
			if ci.Status == StatusStale {
				what = "stale, last verified " + orDash(utc(ci.LastVerifiedAt))
			}
			names = append(names, ci.ID+" ("+what+")")
		}
	}
	if len(ids) > 0 {
		text := fmt.Sprintf("%d configuration items have no current verification, so their drift is unknown: %s",
			len(ids), strings.Join(names, ", "))
		if len(ids) > len(names) {
			text += fmt.Sprintf(" and %d more", len(ids)-len(names))
		}
		inv.Notifications = append(inv.Notifications, sarifNotification{Level: "warning",
			Message: sarifText{Text: text}, Properties: map[string]any{"unverified_cis": len(ids)}})
	}
	if len(omitted) > 0 {
		bySeverity := map[string]int{}
		for _, i := range omitted {
			bySeverity[string(all[i].severity)]++
		}
		var parts []string
		known := 0
		for _, s := range []drift.Severity{drift.SeverityCritical, drift.SeverityHigh, drift.SeverityMedium, drift.SeverityLow} {
			if n := bySeverity[string(s)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, s))
				known += n
			}
		}
		if n := len(omitted) - known; n > 0 {
			parts = append(parts, fmt.Sprintf("%d of another severity", n))
		}
		text := fmt.Sprintf("%d of %d results were left out (%s) to keep the run within %d results and %d gzipped bytes, GitHub code scanning's limits; the highest-severity results were kept.",
			len(omitted), len(all), strings.Join(parts, ", "), tool.MaxResults, tool.MaxGzipBytes)
		inv.Notifications = append(inv.Notifications, sarifNotification{Level: "warning",
			Message: sarifText{Text: text},
			Properties: map[string]any{"omitted_results": len(omitted), "total_results": len(all),
				"omitted_by_severity": bySeverity}})
	}
	return inv
}
