// The trash page: plain JavaScript over the JSON API of `lazarus serve` (docs/server.md).
// Every value from the store is written with textContent, never as HTML.
"use strict";

const state = { deletions: [], current: null, lastLsn: 0, token: sessionStorage.getItem("lazarus-token") };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// Replaces the children of `node`: arrays flattened, null and undefined left out.
function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function show(value) {
  if (value === null || value === undefined) return "NULL";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// what the last action did (a restore, an error); the change feed's state has a line of its
// own, so that a commit arriving on the feed never hides the outcome of the action that made it
function say(id, text, bad) {
  const s = document.getElementById(id);
  s.textContent = text;
  s.className = bad ? "conflict" : "muted";
}

function status(text, bad) { say("status", text, bad); }

function live(text, bad) { say("live", text, bad); }

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = "Bearer " + state.token;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401) {
    const t = prompt("This server needs its access token:");
    if (t) { state.token = t; sessionStorage.setItem("lazarus-token", t); return api(method, path, body); }
  }
  const json = await resp.json();
  if (!resp.ok) throw new Error(json.message || json.error || resp.statusText);
  return json;
}

const enc = encodeURIComponent;
const when = (rfc) => new Date(rfc).toLocaleString();
const pkOf = (v) => (typeof v === "object" ? JSON.stringify(v) : String(v));

// ---- the trash list -------------------------------------------------------------------------

async function loadTrash() {
  const table = document.getElementById("f-table").value;
  const q = table ? "?limit=500&table=" + enc(table) : "?limit=500";
  state.deletions = await api("GET", "/api/trash" + q);
  renderTrash();
}

function filtered() {
  const since = document.getElementById("f-since").value;
  const until = document.getElementById("f-until").value;
  const actor = document.getElementById("f-actor").value.trim().toLowerCase();
  return state.deletions.filter((d) => {
    const t = new Date(d.at).getTime();
    if (since && t < new Date(since).getTime()) return false;
    if (until && t > new Date(until).getTime()) return false;
    if (actor && !(d.actor || "").toLowerCase().includes(actor)) return false;
    return true;
  });
}

function renderTrash() {
  const list = document.getElementById("trash");
  const shown = filtered();
  put(list, ...shown.map((d) => el("li", {},
    el("button", {
      "aria-current": state.current === d.id ? "true" : "false",
      "data-deletion": d.id,
      on: { click: () => openDeletion(d.id) },
    },
      el("span", { class: "when" }, when(d.at)), " ",
      el("span", { class: "muted" }, "by ", d.actor || "nobody recorded"),
      el("br"),
      d.reason ? el("span", {}, "“", d.reason, "” ") : null,
      el("br"),
      d.rows.map((r) => el("span", { class: "tag" }, r.table, " ", r.count)),
      d.unlinked ? el("span", { class: "tag" }, d.unlinked, " set null") : null,
      d.roots.length ? el("span", { class: "muted" }, " ", d.roots.map((r) => r.table + " " + pkOf(r.pk)).join(", ")) : null,
    ))));
  document.getElementById("trash-empty").hidden = shown.length > 0;
}

// ---- one deletion, its dry run and its restore -------------------------------------------------

function rowsTable(rows, withHistory) {
  if (!rows.length) return el("p", { class: "muted" }, "none");
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r.row)))];
  return el("table", {},
    el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col" }, c)), withHistory ? el("th", {}, "") : null)),
    el("tbody", {}, rows.map((r) => el("tr", {},
      cols.map((c) => el("td", {}, show(r.row[c]))),
      withHistory ? el("td", {}, el("button", {
        class: "secondary", on: { click: () => openHistory(r.table, r.pk) },
      }, "History")) : null))));
}

async function openDeletion(id) {
  state.current = id;
  renderTrash();
  const d = await api("GET", "/api/trash/" + enc(id));
  document.getElementById("detail-title").textContent = "Deletion of " + when(d.at);
  const byTable = {};
  for (const m of d.members) (byTable[m.table] ||= []).push(m);
  const policy = el("select", { id: "policy", "aria-label": "Restore policy" },
    el("option", { value: "refuse" }, "refuse on any conflict"),
    el("option", { value: "skip" }, "skip conflicting rows"));
  const plan = el("div", { id: "plan" });
  put(document.getElementById("detail"),
    el("p", {}, "by ", d.actor || "nobody recorded", d.reason ? ", “" + d.reason + "”" : "",
      el("span", { class: "muted" }, " · transaction ", d.tx, " · id ", d.id)),
    d.remaining === 0 ? el("p", { class: "ok" }, "Restored: nothing of it is left in the trash.") : null,
    Object.entries(byTable).map(([t, ms]) => [
      el("h3", {}, t, " ", el("span", { class: "muted" }, ms.length, " row(s)")),
      rowsTable(ms.map((m) => ({ table: t, pk: m.pk, row: m.row })), true),
    ]),
    el("div", { class: "actions" }, policy,
      el("button", { id: "dry-run", disabled: d.remaining === 0, on: { click: () => dryRun(id) } }, "Restore…")),
    plan);
}

async function dryRun(id) {
  const policy = document.getElementById("policy").value;
  const p = await api("GET", "/api/trash/" + enc(id) + "/restore?policy=" + policy);
  const box = document.getElementById("plan");
  const refs = (rs) => rs.map((r) => r.table + " " + pkOf(r.pk)).join(", ") || "none";
  const blocked = p.conflicts.length > 0 && policy === "refuse";
  put(box, el("div", { class: "plan" },
    el("h3", {}, "Dry run"),
    el("p", {}, "Comes back: ", refs(p.rows)),
    p.relinks.length ? el("p", {}, "References set again: ", refs(p.relinks)) : null,
    p.conflicts.length ? el("ul", { class: "conflict" }, p.conflicts.map((c) => el("li", {}, c.message))) : el("p", { class: "ok" }, "No conflicts."),
    p.skipped.length ? el("p", {}, "Left in the trash: ", refs(p.skipped.map((s) => s.row))) : null,
    el("div", { class: "actions" },
      el("button", { id: "confirm-restore", disabled: blocked || p.rows.length === 0, on: { click: () => restore(id, policy) } },
        "Restore " + p.rows.length + " row(s)"),
      el("button", { class: "secondary", on: { click: () => put(box) } }, "Cancel"))));
  document.getElementById("confirm-restore").focus();
}

async function restore(id, policy) {
  try {
    const p = await api("POST", "/api/trash/" + enc(id) + "/restore", { policy, actor: "trash page" });
    status("Restored " + p.rows.length + " row(s).");
    await loadTrash();
    await openDeletion(id);
  } catch (e) {
    status(e.message, true);
  }
}

// ---- a row's history, with what changed between versions ----------------------------------------

async function openHistory(table, pk) {
  const changes = await api("GET", "/api/rows/" + enc(table) + "/" + enc(pkOf(pk)) + "/history");
  const pane = document.getElementById("history-pane");
  pane.hidden = false;
  document.getElementById("history-title").textContent = "History of " + table + " " + pkOf(pk);
  let before = null;
  const items = changes.map((c) => {
    const diff = [];
    if (c.row) {
      for (const k of Object.keys(c.row)) {
        const was = before ? before[k] : undefined;
        if (!before || JSON.stringify(was) !== JSON.stringify(c.row[k])) {
          diff.push(el("li", { class: "diff" }, k, ": ",
            before ? el("span", { class: "was" }, show(was)) : null, before ? " → " : null,
            el("span", { class: "now" }, show(c.row[k]))));
        }
      }
      before = c.row;
    }
    return el("li", {},
      el("strong", {}, c.kind), " ", el("span", { class: "muted" }, when(c.at), " · lsn ", c.lsn, " · ", c.actor || "nobody recorded", c.reason ? " · “" + c.reason + "”" : ""),
      diff.length ? el("ul", {}, diff) : null);
  });
  put(document.getElementById("history"), el("ol", { class: "timeline" }, items));
  pane.scrollIntoView({ behavior: "smooth" });
}

// ---- the store as of a point ------------------------------------------------------------------

async function showAsOf(ev) {
  ev.preventDefault();
  const table = document.getElementById("a-table").value;
  const at = new Date(document.getElementById("a-at").value).toISOString();
  const box = document.getElementById("asof");
  try {
    const rows = await api("GET", "/api/rows/" + enc(table) + "?limit=200&as_of=" + enc(at));
    const plan = await api("GET", "/api/restore-to?table=" + enc(table) + "&at=" + enc(at));
    const refs = (rs) => rs.map((r) => pkOf(r.pk)).join(", ") || "none";
    put(box,
      el("p", { class: "muted" }, rows.length, " row(s) of ", table, " at ", when(at), " (lsn ", plan.target_lsn, ")"),
      rowsTable(rows.map((r) => ({ table, pk: null, row: r })), false),
      el("div", { class: "plan" },
        el("h3", {}, "Restore ", table, " to this point (dry run)"),
        el("p", {}, "Come back: ", refs(plan.restored), " · changed back: ", refs(plan.reverted), " · deleted: ", refs(plan.tombstoned)),
        plan.conflicts.length ? el("ul", { class: "conflict" }, plan.conflicts.map((c) => el("li", {}, c.message))) : null,
        el("div", { class: "actions" }, el("button", {
          class: "danger", id: "confirm-restore-to",
          disabled: plan.conflicts.length > 0 || (plan.restored.length + plan.reverted.length + plan.tombstoned.length) === 0,
          on: { click: async () => {
            try {
              await api("POST", "/api/restore-to", { at, table, actor: "trash page" });
              status("Restored " + table + " to " + when(at) + ".");
              showAsOf(ev);
            } catch (e) { status(e.message, true); }
          } },
        }, "Restore " + table + " to this point"))));
  } catch (e) {
    put(box, el("p", { class: "conflict" }, e.message));
  }
}

// ---- live updates from the change feed -----------------------------------------------------------

let refresh = null;
function follow() {
  const q = "/api/changes?from=" + state.lastLsn + (state.token ? "&access_token=" + enc(state.token) : "");
  const feed = new EventSource(q);
  feed.addEventListener("change", (e) => {
    state.lastLsn = Number(e.lastEventId) || state.lastLsn;
    live("live · lsn " + state.lastLsn);
    clearTimeout(refresh);
    refresh = setTimeout(async () => {
      await loadTrash();
      if (state.current) await openDeletion(state.current);
    }, 150);
  });
  feed.onopen = () => live("live · lsn " + state.lastLsn);
  feed.onerror = () => live("reconnecting to the change feed…", true);
}

async function start() {
  try {
    const [tables, stats] = await Promise.all([api("GET", "/api/tables"), api("GET", "/api/stats")]);
    state.lastLsn = stats.last_lsn;
    for (const id of ["f-table", "a-table"]) {
      const s = document.getElementById(id);
      for (const t of tables) s.append(el("option", { value: t }, t));
    }
    const now = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
    document.getElementById("a-at").value = now.toISOString().slice(0, 19);
    document.getElementById("f-table").addEventListener("change", loadTrash);
    for (const id of ["f-since", "f-until", "f-actor"]) document.getElementById(id).addEventListener("input", renderTrash);
    document.getElementById("asof-form").addEventListener("submit", showAsOf);
    await loadTrash();
    follow();
  } catch (e) {
    status(e.message, true);
  }
}

start();
