// driftwatch dashboard: a small single-page app over the same HTTP API, with the same
// tokens. The token lives in sessionStorage (gone with the tab); every call sends it as a
// bearer token. Everything shown is written with textContent, never as HTML.
"use strict";

const main = document.getElementById("main");
const roles = { viewer: 1, operator: 2, admin: 3 };
let me = null; // {name, role} of the token in use

function token() { return sessionStorage.getItem("driftwatch-token") || ""; }

class APIError extends Error {
  constructor(status, detail) { super(detail || ("HTTP " + status)); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!resp.ok) {
    if (resp.status === 401) { logout(); }
    throw new APIError(resp.status, data && data.detail);
  }
  return data;
}

// el builds an element: el("td", {class: "x"}, "text", child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function show(...nodes) { main.replaceChildren(...nodes); }
function fail(err) { show(el("p", { class: "error", id: "error" }, String(err.message || err))); }
function can(role) { return me && roles[me.role] >= roles[role]; }
function when(t) { return t ? new Date(t).toLocaleString() : ""; }
function json(v) { return v === undefined ? "" : JSON.stringify(v); }

function logout() {
  sessionStorage.removeItem("driftwatch-token");
  me = null;
  document.getElementById("nav").hidden = true;
  location.hash = "#/login";
}

// --- login ---------------------------------------------------------------------------------

function loginPage(message) {
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "dwt_…" });
  const form = el("form", { class: "login", id: "login" },
    el("h1", {}, "Sign in"),
    el("label", { for: "token" }, "API token"), input,
    el("button", { type: "submit", id: "login-submit" }, "Sign in"),
    message ? el("p", { class: "error" }, message) : null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("driftwatch-token", input.value.trim());
    try {
      await whoami();
      location.hash = "#/drifts";
    } catch (err) {
      sessionStorage.removeItem("driftwatch-token");
      loginPage(err.status === 401 ? "That token is unknown or revoked." : String(err.message));
    }
  });
  show(form);
  input.focus();
}

async function whoami() {
  me = await api("GET", "/whoami");
  document.getElementById("who").textContent = me.name + " (" + me.role + ")";
  document.getElementById("nav").hidden = false;
}

// --- drifts --------------------------------------------------------------------------------

async function driftsPage(params) {
  const filters = el("form", { class: "filters", id: "filters" });
  const sel = (name, values) => el("select", { name, id: "filter-" + name },
    el("option", { value: "" }, "any " + name),
    ...values.map(v => el("option", { value: v, selected: params.get(name) === v }, v)));
  filters.append(
    sel("status", ["open", "acknowledged", "resolved"]),
    sel("severity", ["low", "medium", "high", "critical"]),
    sel("category", ["configuration", "security", "compliance", "state", "network", "package", "service", "firmware"]),
    el("input", { name: "ci", id: "filter-ci", placeholder: "CI id", value: params.get("ci") || "" }),
    el("button", { type: "submit", id: "filter-apply" }, "Filter"));
  filters.addEventListener("change", () => filters.requestSubmit());
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v) q.set(k, v);
    location.hash = "#/drifts?" + q.toString();
  });
  const q = new URLSearchParams(params);
  q.set("limit", "200");
  const list = await api("GET", "/drift/events?" + q.toString());
  const rows = list.items.map(d => el("tr", { class: "clickable drift-row", "data-drift": d.drift_id, "data-ci": d.ci_id,
      onclick: () => { location.hash = "#/ci/" + encodeURIComponent(d.ci_id); } },
    el("td", {}, d.ci_id), el("td", {}, el("code", {}, d.field)),
    el("td", { class: "sev-" + d.severity }, d.severity), el("td", {}, d.category),
    el("td", { class: "status-" + d.status }, d.status),
    el("td", {}, el("code", {}, json(d.desired))), el("td", {}, el("code", {}, json(d.actual))),
    el("td", {}, when(d.detected_at))));
  show(el("h1", {}, "Drifts"), filters,
    el("p", { class: "muted", id: "drift-total" }, list.total + " drift(s)"),
    el("table", { id: "drifts" },
      el("thead", {}, el("tr", {}, ...["CI", "Field", "Severity", "Category", "Status", "Desired", "Actual", "Detected"].map(h => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
}

// --- one CI --------------------------------------------------------------------------------

async function ciPage(id) {
  const [ci, drifts] = await Promise.all([
    api("GET", "/drift/cis/" + encodeURIComponent(id)),
    api("GET", "/drift/events?limit=200&ci=" + encodeURIComponent(id)),
  ]);
  const cards = drifts.items.map(d => driftCard(d, () => ciPage(id)));
  const history = el("div", { id: "history" }, el("p", { class: "muted" }, "Loading history…"));
  show(el("h1", {}, "CI " + ci.ci_id),
    el("div", { class: "grid" },
      stat("Type", ci.ci_type || "—"), stat("Template", ci.template_id || "—"),
      stat("Open drifts", ci.open_drifts), stat("Last observed", when(ci.last_observed_at) || "never"),
      stat("Verification", (ci.verification || "—").replaceAll("_", " "))),
    el("h2", {}, "Drifts"), cards.length ? el("div", { id: "ci-drifts" }, ...cards) : el("p", { class: "muted" }, "No drift."),
    el("h2", {}, "History"), history);
  try {
    const h = await api("GET", "/drift/cis/" + encodeURIComponent(id) + "/history");
    const items = h.items || [];
    history.replaceChildren(el("table", { id: "history-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "What"), el("th", {}, "Detail"))),
      el("tbody", {}, ...items.map(it => el("tr", {},
        el("td", {}, when(it.time || it.recorded_at)), el("td", {}, it.summary || it.type),
        el("td", {}, el("code", {}, it.detail || "")))))));
  } catch (err) {
    history.replaceChildren(el("p", { class: "muted" }, "History unavailable: " + err.message));
  }
}

function stat(label, value) { return el("div", { class: "stat" }, el("span", { class: "muted" }, label), el("b", {}, value)); }

function driftCard(d, reload) {
  const actions = el("div", {});
  if (can("operator") && d.status === "open") {
    actions.append(el("button", { class: "ack", "data-drift": d.drift_id, onclick: async () => {
      try { await api("POST", "/drift/events/" + d.drift_id + "/acknowledge", { by: me.name }); reload(); }
      catch (err) { actions.append(el("span", { class: "error" }, " " + err.message)); }
    } }, "Acknowledge"), " ");
  }
  if (can("operator") && d.status !== "resolved") {
    actions.append(el("button", { class: "remediate secondary", "data-drift": d.drift_id, onclick: async () => {
      try { await api("POST", "/drift/events/" + d.drift_id + "/remediate", { by: me.name }); reload(); }
      catch (err) { actions.append(el("span", { class: "error" }, " " + err.message)); }
    } }, "Remediate"));
  }
  return el("div", { class: "card drift", "data-drift": d.drift_id, "data-status": d.status },
    el("div", {}, el("code", {}, d.field), " ", el("span", { class: "sev-" + d.severity }, d.severity), " · ", d.category,
      " · ", el("span", { class: "status-" + d.status + " drift-status" }, d.status)),
    el("p", {}, "desired ", el("code", {}, json(d.desired)), " actual ", el("code", {}, json(d.actual))),
    d.detail ? el("pre", { class: "diff" }, d.detail) : null,
    d.acknowledged_by ? el("p", { class: "muted" }, "acknowledged by " + d.acknowledged_by) : null,
    actions);
}

// --- report --------------------------------------------------------------------------------

async function reportPage() {
  const r = await api("GET", "/drift/report");
  const open = r.total ? r.total.open : 0;
  const nodes = [el("h1", {}, "Report"),
    el("div", { class: "grid", id: "totals" },
      stat("Open", open), stat("Acknowledged", r.total ? r.total.acknowledged : 0), stat("Resolved", r.total ? r.total.resolved : 0))];
  if (r.coverage) {
    const c = r.coverage;
    nodes.push(el("h2", {}, "Coverage"), el("div", { class: "grid", id: "coverage" },
      ...Object.entries(c).filter(([, v]) => typeof v === "number").map(([k, v]) => stat(k.replaceAll("_", " "), v))));
  }
  const timeline = el("div", { id: "timeline" });
  const causes = el("div", { id: "causes" });
  nodes.push(el("h2", {}, "Opened and resolved per day"), timeline, el("h2", {}, "Causes"), causes);
  show(...nodes);
  try {
    const t = await api("GET", "/drift/report/timeline?bucket=day");
    timeline.replaceChildren(chart(t.buckets || t.items || []));
  } catch (err) { timeline.replaceChildren(el("p", { class: "muted" }, "Timeline unavailable: " + err.message)); }
  try {
    const c = await api("GET", "/drift/report/causes");
    const rows = (c.items || []).map(x => el("tr", {}, el("td", {}, el("code", {}, x.field || "")),
      el("td", {}, el("code", {}, json(x.desired))), el("td", {}, el("code", {}, json(x.actual))),
      el("td", {}, String(x.count !== undefined ? x.count : (x.cis || []).length))));
    causes.replaceChildren(el("table", { id: "causes-table" },
      el("thead", {}, el("tr", {}, ...["Field", "Desired", "Actual", "CIs"].map(h => el("th", {}, h)))), el("tbody", {}, ...rows)));
  } catch (err) { causes.replaceChildren(el("p", { class: "muted" }, "Causes unavailable: " + err.message)); }
}

// chart draws opened and resolved counts per bucket as paired bars (SVG, no library).
function chart(buckets) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = Math.max(320, buckets.length * 28), h = 160;
  svg.setAttribute("width", w); svg.setAttribute("height", h + 20); svg.setAttribute("id", "timeline-chart");
  const value = (b, k) => Number(b[k] || 0);
  const top = Math.max(1, ...buckets.map(b => Math.max(value(b, "opened"), value(b, "resolved"))));
  buckets.forEach((b, i) => {
    for (const [k, dx] of [["opened", 2], ["resolved", 13]]) {
      const r = document.createElementNS(ns, "rect");
      const bh = value(b, k) / top * h;
      r.setAttribute("x", i * 28 + dx); r.setAttribute("y", h - bh); r.setAttribute("width", 10); r.setAttribute("height", bh);
      r.setAttribute("class", "bar-" + k);
      const title = document.createElementNS(ns, "title");
      title.textContent = (b.start || "") + " " + k + ": " + value(b, k);
      r.append(title);
      svg.append(r);
    }
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", i * 28); label.setAttribute("y", h + 14);
    label.textContent = String(b.start || "").slice(5, 10);
    svg.append(label);
  });
  return svg;
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  const [path, query] = (location.hash.slice(1) || "/drifts").split("?");
  if (path === "/login" || !token()) { loginPage(); return; }
  try {
    if (!me) await whoami();
    if (path.startsWith("/ci/")) await ciPage(decodeURIComponent(path.slice(4)));
    else if (path === "/report") await reportPage();
    else await driftsPage(new URLSearchParams(query || ""));
  } catch (err) { fail(err); }
}

document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", route);
route();
