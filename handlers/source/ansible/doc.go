// Package ansible is the Ansible facts source (SPEC-080's third detection source: package,
// service, compliance and firmware drift). It parses the facts Ansible gathers on a host and
// turns them into one observation of that host's actual state; the pipeline does the rest.
//
// # Documents
//
// Parse accepts, strictly, the three JSON shapes real Ansible produces:
//
//   - an ansible_facts object itself (the value of the ansible_facts variable, whose keys
//     carry no "ansible_" prefix, or a module's facts, whose setup keys do);
//   - a module result, {"ansible_facts": {...}, "changed": false, ...}: what `ansible -m
//     setup` prints after "host | SUCCESS =>", and what `ansible -t <dir>` writes per host;
//   - the facts document that deploy/ansible/collect-facts.yml posts to /facts:
//     {"host": "<inventory_hostname>", "ansible_facts": {...}}, the setup, package_facts and
//     service_facts results merged. It has exactly these two members.
//
// Malformed input (invalid JSON, not an object, no ansible_facts, a fact of the wrong type) is
// an error that names the field, marked fault.Permanent: a 400 answer at the door.
//
// # Observation
//
// Facts.Observation reports the host as ci_type "node" with source "ansible". Its ci_id is
// the first non-empty of the document's host, ansible_hostname, ansible_nodename and
// ansible_fqdn: the inventory name is what the CMDB knows the host by, and the FQDN comes last
// because hosts without DNS often report "localhost" there. Its observed_at is
// ansible_date_time.iso8601 when the setup facts are present; its id then derives from the
// host, that time and the state hash, so a re-sent document is the same observation. The
// state is a JSON object with these members:
//
//	{
//	  "packages":   {"<name>": "<version>"},
//	  "services":   {"<name>": {"state": "running", "enabled": true}},
//	  "firmware":   {"bios_version": "...", "bios_date": "...", "product_name": "...", "system_vendor": "..."},
//	  "compliance": {"<rule id>": "pass" | "fail"}
//	}
//
// packages comes from package_facts. A version reads as dpkg and rpm show it,
// [epoch:]version[-release]: apt already puts the epoch into the version, rpm reports epoch
// and release apart (an epoch of null or 0 is not shown). A package installed in several
// distinct versions (rpm's kernels) has them sorted and joined by ", ".
//
// services comes from service_facts. A systemd unit is named without its ".service" suffix,
// so that "ssh.service" and the SysV script "ssh" are one service; when service_facts reports
// both, the systemd record wins. enabled is status == "enabled", and is left out when
// service_facts reports no status (its SysV scanner without chkconfig, OpenRC, upstart): an
// unknown boot setting is not reported as false. A service without a reported state has no
// state member.
//
// firmware comes from the setup facts bios_version, bios_date, product_name and system_vendor;
// values of "NA" (unreadable DMI) and empty values are left out.
//
// compliance holds the outcome of each compliance rule (see Rules) evaluated over the other
// members.
//
// # Scope
//
// The observation's scope names the members the facts actually carried, so that a partial
// document leaves the others alone: packages when package_facts ran, services when
// service_facts ran, firmware when the setup facts carry any of the firmware facts (even as
// "NA"), and compliance when rules were given and every one of them could be evaluated. A
// setup-only document therefore covers firmware, and compliance only when the rules look at
// firmware alone. The state holds the scoped members only. Facts that carry none of these are
// refused.
//
// # Desired state conventions
//
// The desired side (NetBox, templates) describes the same members. Two conventions, which the
// diff stage applies, make baselines short:
//
//   - a desired value of "*" means "present, with any value";
//   - a desired object member named "*" applies to every actual member not named.
//
// So an approved package baseline reads
//
//	packages: {"openssh-server": "*", "bash": "5.2.15-2+b2"}
//
// where a missing openssh-server, another bash version and any package not listed ("not in the
// approved baseline") are drift, and required services read
//
//	services: {"ssh": {"state": "running", "enabled": true}, "*": "*"}
//
// where ssh must be running and enabled and other services may be anything.
//
// # Compliance rules
//
// Rules are CIS-style checks written as policy rules over the normalised state and loaded from
// YAML (see LoadRules for the format). A rule points into the state with an RFC 6901 JSON
// pointer whose first token is packages, services or firmware, and tests what it finds with
// absent, present, equals, not_equals, in or matches (RE2). Evaluation is a pure function of
// the state. A rule whose top-level member is absent (packages not gathered) is not evaluated:
// its id is left out of compliance rather than reported as "fail".
package ansible
