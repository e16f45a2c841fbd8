package ansible

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Op is what a compliance rule tests at its pointer.
type Op string

// Operators. Values compare as text: a string as it is, a boolean as "true" or "false"; an
// object matches none of equals, in and matches. A pointer that finds nothing counts as not
// equal to anything.
const (
	// OpAbsent passes when the pointer finds nothing.
	OpAbsent Op = "absent"
	// OpPresent passes when the pointer finds a value.
	OpPresent Op = "present"
	// OpEquals passes when the value found equals Value.
	OpEquals Op = "equals"
	// OpNotEquals passes unless the value found equals Value (nothing found passes).
	OpNotEquals Op = "not_equals"
	// OpIn passes when the value found is one of Values.
	OpIn Op = "in"
	// OpMatches passes when the value found matches the RE2 expression Value (unanchored).
	OpMatches Op = "matches"
)

var ops = []Op{OpAbsent, OpPresent, OpEquals, OpNotEquals, OpIn, OpMatches}

// Valid reports whether o is a known operator.
func (o Op) Valid() bool { return slices.Contains(ops, o) }

// Outcome is a compliance rule's result.
type Outcome string

// Outcomes.
const (
	OutcomePass Outcome = "pass"
	OutcomeFail Outcome = "fail"
)

// Rule is one CIS-style compliance check over the normalised state.
type Rule struct {
	// ID names the rule and its member of compliance ("cis-2.3.4-no-telnet-client"): lower
	// case letters, digits, '.', '_' and '-'; required and unique.
	ID string `yaml:"id" json:"id"`
	// Title says what the rule requires; required.
	Title string `yaml:"title" json:"title"`
	// Severity is low, medium, high or critical; required.
	Severity drift.Severity `yaml:"severity" json:"severity"`
	// Pointer is an RFC 6901 JSON pointer into the state below packages, services or firmware
	// ("/packages/telnet", "/services/auditd/state"); required.
	Pointer string `yaml:"pointer" json:"pointer"`
	// Op is the test; required.
	Op Op `yaml:"op" json:"op"`
	// Value is the operand of equals, not_equals and matches (an RE2 expression for matches).
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	// Values are the operands of in.
	Values []string `yaml:"values,omitempty" json:"values,omitempty"`
}

// Rules is a validated set of compliance rules, in file order. The zero value has no rules.
// It is safe for concurrent use.
type Rules struct {
	rules []Rule
	re    map[string]*regexp.Regexp // by rule id, for matches
}

// ruleID is the shape of a rule id.
var ruleID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// sections are the state members a rule may point into.
var sections = []string{MemberPackages, MemberServices, MemberFirmware}

// NewRules validates rules and returns them as a set; it reports every problem at once, each
// naming its rule.
func NewRules(rules []Rule) (Rules, error) {
	return newRules(rules, nil, "")
}

// newRules validates rules; lines, when set, are their lines in file name.
func newRules(rules []Rule, lines []int, name string) (Rules, error) {
	rs := Rules{rules: slices.Clone(rules), re: map[string]*regexp.Regexp{}}
	var errs []error
	seen := map[string]string{}
	for i, r := range rules {
		where := fmt.Sprintf("rules[%d]", i)
		if i < len(lines) {
			where = fmt.Sprintf("%s:%d", name, lines[i])
		}
		at := where
		if r.ID != "" {
			where += fmt.Sprintf(": rule %q", r.ID)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
		}
		switch {
		case r.ID == "":
			bad("id: required")
		case !ruleID.MatchString(r.ID):
			bad("id: must be lower case letters, digits, '.', '_' and '-'")
		}
		if prev, dup := seen[r.ID]; dup && r.ID != "" {
			bad("id: also used at %s", prev)
		} else {
			seen[r.ID] = at
		}
		if strings.TrimSpace(r.Title) == "" {
			bad("title: required")
		}
		if !r.Severity.Valid() {
			bad("severity: %q is not one of low, medium, high, critical", r.Severity)
		}
		if err := validPointer(r.Pointer); err != nil {
			bad("pointer: %v", err)
		}
		switch {
		case !r.Op.Valid():
			bad("op: %q is not one of %s", r.Op, joinOps())
		case r.Op == OpAbsent || r.Op == OpPresent:
			if r.Value != "" || len(r.Values) > 0 {
				bad("op %s takes no value or values", r.Op)
			}
		case r.Op == OpIn:
			if len(r.Values) == 0 {
				bad("values: required for op in")
			}
			if r.Value != "" {
				bad("value: op in takes values, not value")
			}
		default:
			if r.Value == "" {
				bad("value: required for op %s", r.Op)
			}
			if len(r.Values) > 0 {
				bad("values: op %s takes value, not values", r.Op)
			}
			if r.Op == OpMatches && r.Value != "" {
				re, err := regexp.Compile(r.Value)
				if err != nil {
					bad("value: %v", err)
				}
				rs.re[r.ID] = re
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Rules{}, err
	}
	return rs, nil
}

func joinOps() string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// validPointer accepts a JSON pointer below one of the sections.
func validPointer(p string) error {
	if p == "" {
		return errors.New("required")
	}
	if err := drift.ValidPointer(p); err != nil {
		return err
	}
	tokens := strings.Split(p[1:], "/")
	if !slices.Contains(sections, tokens[0]) || len(tokens) < 2 || tokens[1] == "" {
		return fmt.Errorf("%q must point below /packages, /services or /firmware", p)
	}
	return nil
}

// ruleFile is the shape of a rules file.
type ruleFile struct {
	Rules []Rule `yaml:"rules"`
}

// unknownKey matches yaml.v3's unknown-key errors: "line 3: field foo not found in type ...".
var unknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)

// yamlLine matches yaml.v3's other positioned errors.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// LoadRules decodes a rules file strictly: an unknown key is an error naming the file, line
// and key, and a bad rule is an error naming the file, the rule's line and the rule. name is
// the file's name for errors. The format is
//
//	rules:
//	  - id: cis-2.3.4-no-telnet-client
//	    title: Ensure telnet client is not installed
//	    severity: high            # low | medium | high | critical
//	    pointer: /packages/telnet # RFC 6901, below /packages, /services or /firmware
//	    op: absent                # absent | present | equals | not_equals | in | matches
//	    value: "..."              # equals, not_equals, matches (RE2)
//	    values: ["..."]           # in
func LoadRules(raw []byte, name string) (Rules, error) {
	rs, err := loadRules(raw, name)
	if err != nil {
		return Rules{}, fmt.Errorf("load compliance rules: %w", err)
	}
	return rs, nil
}

func loadRules(raw []byte, name string) (Rules, error) {
	var file ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		if errors.Is(err, io.EOF) {
			return Rules{}, fmt.Errorf("%s: no rules", name)
		}
		return Rules{}, yamlError(err, name)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return Rules{}, fmt.Errorf("%s: one YAML document expected", name)
	}
	if len(file.Rules) == 0 {
		return Rules{}, fmt.Errorf("%s: no rules", name)
	}
	return newRules(file.Rules, ruleLines(raw), name)
}

// yamlError rewrites yaml.v3's errors as "file:line: problem".
func yamlError(err error, name string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		switch m, n := unknownKey.FindStringSubmatch(e), yamlLine.FindStringSubmatch(e); {
		case m != nil:
			msgs[i] = fmt.Sprintf("%s:%s: unknown key %q", name, m[1], m[2])
		case n != nil:
			msgs[i] = fmt.Sprintf("%s:%s: %s", name, n[1], n[2])
		default:
			msgs[i] = fmt.Sprintf("%s: %s", name, e)
		}
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// ruleLines returns the line of each item of the rules list.
func ruleLines(raw []byte) []int {
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" {
			var lines []int
			for _, item := range top.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

// Len returns the number of rules.
func (rs Rules) Len() int { return len(rs.rules) }

// List returns a copy of the rules in file order.
func (rs Rules) List() []Rule { return slices.Clone(rs.rules) }

// Evaluate returns the outcome of every rule that can be evaluated over st, by rule id. A rule
// whose pointer's top-level member is absent from st (packages not gathered) is left out. It
// is a pure function of the rules and st.
func (rs Rules) Evaluate(st State) map[string]Outcome {
	out := make(map[string]Outcome, len(rs.rules))
	for _, r := range rs.rules {
		if o, ok := rs.evaluate(r, st); ok {
			out[r.ID] = o
		}
	}
	return out
}

func (rs Rules) evaluate(r Rule, st State) (Outcome, bool) {
	tokens := pointerTokens(r.Pointer)
	if _, ok := st[tokens[0]]; !ok {
		return "", false
	}
	v, found := resolve(st, tokens)
	text, scalar := scalarText(v)
	var pass bool
	switch r.Op {
	case OpAbsent:
		pass = !found
	case OpPresent:
		pass = found
	case OpEquals:
		pass = found && scalar && text == r.Value
	case OpNotEquals:
		pass = !(found && scalar && text == r.Value)
	case OpIn:
		pass = found && scalar && slices.Contains(r.Values, text)
	case OpMatches:
		re := rs.re[r.ID]
		pass = found && scalar && re != nil && re.MatchString(text)
	}
	if pass {
		return OutcomePass, true
	}
	return OutcomeFail, true
}

// explain is the evidence of a rule's outcome over st, for the observation's details.
func (r Rule) explain(st State, o Outcome) string {
	found := "nothing is there"
	if v, ok := resolve(st, pointerTokens(r.Pointer)); ok {
		raw, _ := json.Marshal(v)
		found = "it is " + string(raw)
	}
	want := string(r.Op)
	switch r.Op {
	case OpEquals, OpNotEquals, OpMatches:
		want += " " + strconv.Quote(r.Value)
	case OpIn:
		raw, _ := json.Marshal(r.Values)
		want += " " + string(raw)
	}
	return fmt.Sprintf("%s: %s (severity %s): %s %s; %s", o, r.Title, r.Severity, r.Pointer, want, found)
}

// pointerTokens splits a valid pointer into unescaped tokens.
func pointerTokens(p string) []string {
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens
}

// resolve walks tokens down st.
func resolve(st State, tokens []string) (any, bool) {
	var cur any = map[string]any(st)
	for _, t := range tokens {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[t]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalarText is v as text when it is a string, boolean or number.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}
