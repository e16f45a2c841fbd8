// Package netboxfake is a fake NetBox 4.3 REST API for tests. NetBox (Django, PostgreSQL,
// Redis) cannot run here, so this fake stands in for it and speaks its wire format: a test
// drives the real go-netbox v4.3.0 client over HTTP against it.
//
// Every answer it gives is checked against NetBox's own OpenAPI document, the
// api/openapi.yaml of the go-netbox module in the module cache, with kin-openapi; an answer
// that does not match fails the test (t.Errorf), except the deliberately malformed answers
// of a Fault. Requests are checked against the document too. The document is loaded once per
// test binary, reduced to the GET operations of ServedPaths and the schemas they reach.
//
// It serves GET, with token authentication (Authorization: Token <token>; anything else is
// 401 with NetBox's {"detail": ...} body) and NetBox's limit/offset pagination (count,
// next, previous, results), on:
//
//   - /api/status/;
//   - /api/dcim/devices/ and /api/virtualization/virtual-machines/, filtered by name, id
//     and cf_<custom field> (with the field's filter logic: loose is case-insensitive
//     containment, exact is equality, disabled and unknown fields are ignored, as NetBox
//     ignores filters it does not know), ordered by name unless ordering says id or -id;
//     config_context is rendered from the config contexts that apply (by site, role and
//     platform) and local_context_data, as NetBox renders it;
//   - /api/dcim/interfaces/?device_id= and /api/virtualization/interfaces/?virtual_machine_id=;
//   - /api/extras/custom-fields/?name=;
//   - /api/core/object-changes/, filtered by id, id__gt, id__gte, id__lt and
//     changed_object_type, ordered by -time unless ordering says id, -id or time.
//
// Tests add, change and delete devices, virtual machines, their interfaces, config contexts
// and custom fields through Server's methods; each change is recorded in the change log as
// NetBox records it (the object's brief form as changed_object, serialized snapshots with
// related objects as ids), deletions of devices and virtual machines cascading to their
// interfaces. SendWebhook posts NetBox's webhook body with a correct X-Hook-Signature.
// Faults delay answers, answer 5xx, or answer a body that does not match the document.
//
// It does not implement: writes through the API (tests change objects through Server);
// detail endpoints (/api/dcim/devices/{id}/); the config context list (the document
// requires data_file and data_path and does not let them be null, as NetBox sends them); any filter or model not listed above; brief
// mode, field selection (fields=, omit=) and exclude=config_context; sites, roles,
// platforms, IP and MAC addresses as objects of their own (they are created on first use,
// without change records); virtual disks; cables, modules and every other model.
package netboxfake
