// Package export writes a drift Report, what `driftwatch check` read from the HTTP API, as
// JUnit XML or SARIF 2.1.0 for CI pipelines. Both writers are pure functions of the report:
// they sort CIs by id and drifts by field (then drift id) on copies, so equal reports give
// equal bytes, and they never change the report they are given. Every finding in CI.Drifts
// is reported whatever its status (open, acknowledged, remediating, escalated); a caller that
// wants only some of them filters before writing. The writers are safe for concurrent use.
//
// # JUnit
//
// WriteJUnit writes one <testsuites> document valid against the windyroad JUnit.xsd
// (shared/conformance/junit). That schema gives <testsuites> no attributes, so the name,
// counts and timestamp sit on each <testsuite>, which Jenkins and GitLab add up themselves.
//
//   - One <testsuite> per CI type (name = type, "unknown" when empty), suites sorted by name:
//     Jenkins and GitLab list suites side by side, and a handful of types reads better than
//     one suite per CI on a fleet of thousands.
//   - One <testcase> per (CI, drift), classname = CI type, name = "<ci id> <field>", carrying
//     one <failure>: message "<field>: desired X, actual Y" on one line (values as compact
//     JSON, cut at 120 characters, "absent" when missing), type "<category>/<severity>", body
//     the detail followed by the drift's id, status, policy, template, detection time,
//     planned flag, ticket and URL. The schema allows at most one <failure> per testcase, and
//     a testcase per drift lets Jenkins and GitLab follow each drift across builds (how long
//     it has been failing, when it was fixed).
//   - One <testcase> named "<ci id>" for a CI without drifts, passing: the same test turns
//     into an <error> (type "stale" or "never_verified") when the CI is stale or was never
//     verified, since then nobody knows whether it is in sync. A stale CI with drifts has both
//     its error and its drifts' failures. Failures are therefore exactly the report's drifts.
//   - Each suite has the <properties> (server, generated, filter.<name>, ci_type),
//     <system-out> (one line per CI: id, status, drifts, last verification) and <system-err>
//     the schema requires, in its order; times are 0, timestamps UTC without zone, hostname
//     is the server's host ("localhost" when unknown).
//
// Text is made safe for XML 1.0 before it is escaped: invalid UTF-8 and characters XML 1.0
// does not allow (control characters other than tab, newline and carriage return, U+FFFE,
// U+FFFF, surrogates) become U+FFFD; they are never emitted.
//
// # SARIF
//
// WriteSARIF writes a SARIF 2.1.0 log with one run, valid against the OASIS schema
// (shared/conformance/sarif), compact JSON without HTML escaping and one final newline.
//
//   - tool.driver "driftwatch" has one rule per drift category ("drift/configuration", ...):
//     the six categories of SPEC-080 always, in their fixed order, then any other category
//     met in the report. Categories are stable and few, where policies come and go and carry
//     no description here; the policy id is in each result's properties. A rule's default
//     level is "error" for security and "warning" otherwise; each result sets its own level.
//   - One result per drift: level error for critical and high, warning for medium (and an
//     unknown severity), note for low; a logical location "ci/<ci id><field>" of kind
//     "resource", and a physical location file:///<path> only when the field is a file under
//     /files/ ("/files/~1etc~1hosts" is /etc/hosts); partialFingerprints["driftwatch/v1"] is
//     the drift id, so re-runs match the same alerts; properties hold ci_id, ci_type, field,
//     category, severity, status, desired, actual, policy_id, template_id,
//     template_version, planned, ticket, detected_at and url; an absolute URL is also the
//     result's hostedViewerUri.
//   - invocations[0] records success, the generation time, the server and the filters. Its
//     toolExecutionNotifications say which CIs are stale or never verified and, when results
//     were left out, how many.
//
// GitHub code scanning takes at most 25,000 results per run and 10 MB gzipped per upload
// (ToolInfo can set other limits). When a report is over either, WriteSARIF keeps the
// highest-severity results (ties in CI id, field order), checks the gzipped size of the
// document it is about to write, shrinks the kept set until it fits, and adds a warning
// notification with the number of results left out and their severities.
package export
