// Box office: the audit log (filters and paging) and users (roles, disable and enable).

import { api, h, replace, money } from "/assets/app.js";
import { field, onSubmit, runAction, uid, localZone } from "/assets/admin-util.js";

const ACTIONS = [
  "venue.create", "hall.create", "hall.layout", "event.create", "event.update", "event.publish", "event.unpublish",
  "showtime.create", "showtime.prices", "showtime.cancel", "showtime.delete", "showtime.waiting_room",
  "showtime.waiting_room.delete", "order.confirmed", "order.refund", "user.role", "user.disable", "user.enable",
  "login.succeeded", "login.failed",
];
const PAGE = 50;

// ---------------------------------------------------------------------------------------------
// Audit log

export async function renderAudit(body, ctx) {
  const params = new URLSearchParams(ctx.arg || "");
  const action = field({ label: "Action", name: "action", value: params.get("action") || "", hint: "e.g. showtime.create", attrs: { list: uid("actions"), autocomplete: "off", spellcheck: "false" } });
  const datalist = h("datalist", { id: action.input.getAttribute("list") }, ACTIONS.map((a) => h("option", { value: a })));
  const actor = field({ label: "Actor (user id)", name: "actor", value: params.get("actor_id") || "", hint: "Select an actor in the table to fill this in", attrs: { autocomplete: "off", spellcheck: "false" } });
  const target = field({ label: "Target (id of the object)", name: "target", value: params.get("target") || "", hint: "e.g. a showtime id, sho_…", attrs: { autocomplete: "off", spellcheck: "false" } });
  const filterStatus = h("div", { class: "form-status" });
  const clear = h("button", { type: "button", class: "secondary" }, "Clear filters");
  const form = h("form", { class: "panel filters", role: "search", "aria-label": "Filter the audit log" },
    h("div", { class: "row" }, action.wrap, actor.wrap, target.wrap), datalist,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter"), clear),
    filterStatus);
  const tbody = h("tbody", {});
  const summary = h("p", { class: "hint", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load older entries");
  const moreStatus = h("div", { class: "form-status" });
  const zone = localZone();
  const table = h("div", { class: "table-wrap" }, h("table", { class: "stack audit-table" },
    h("caption", { class: "visually-hidden" }, "Audit log, newest first"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, `Time (${zone})`), h("th", { scope: "col" }, "Actor"), h("th", { scope: "col" }, "Action"),
      h("th", { scope: "col" }, "Target"), h("th", { scope: "col" }, "IP"), h("th", { scope: "col" }, "Details"))),
    tbody));

  let cursor = null;
  let shown = 0;
  const query = () => {
    const q = new URLSearchParams();
    if (action.input.value.trim()) q.set("action", action.input.value.trim());
    if (actor.input.value.trim()) q.set("actor_id", actor.input.value.trim());
    if (target.input.value.trim()) q.set("target", target.input.value.trim());
    return q;
  };
  const filterBy = (name, value) => {
    ({ action, actor_id: actor, target })[name].input.value = value;
    form.requestSubmit();
  };

  async function load(reset) {
    const q = query();
    q.set("limit", String(PAGE));
    if (!reset && cursor) q.set("cursor", cursor);
    const page = await api(`/api/v1/admin/audit?${q}`);
    if (reset) {
      replace(tbody);
      shown = 0;
    }
    cursor = page.next_cursor;
    shown += page.items.length;
    for (const entry of page.items) tbody.append(auditRow(entry, zone, filterBy));
    if (!shown) tbody.append(h("tr", {}, h("td", { colspan: 6 }, "No entries match.")));
    more.hidden = !cursor;
    summary.textContent = `${shown} ${shown === 1 ? "entry" : "entries"} shown${cursor ? "; older ones follow" : ""}.`;
  }

  onSubmit(form, filterStatus, async () => {
    const q = query();
    ctx.setArg(q.toString());
    cursor = null;
    await load(true);
    return null;
  }, { busyText: "Filtering…" });
  clear.addEventListener("click", () => {
    for (const f of [action, actor, target]) f.input.value = "";
    form.requestSubmit();
  });
  more.addEventListener("click", () => runAction(more, moreStatus, async () => {
    const before = shown;
    await load(false);
    tbody.rows[before]?.querySelector("td")?.focus();
    return null;
  }, "Loading…"));

  await load(true);
  if (!ctx.current()) return;
  replace(body,
    h("p", { class: "hint" }, "Every change made in the box office and every sign-in, newest first. The log cannot be edited."),
    form, summary, table, h("div", { class: "actions" }, more), moreStatus);
}

/** A time to the second, in the browser's zone. */
function stamp(iso, zone) {
  return new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: zone,
  }).format(new Date(iso));
}

/** A detail of an audit entry, readable: money as money, instants as dates, the rest as JSON. */
function detailValue(key, value) {
  if (value && typeof value === "object" && "amount" in value && "currency" in value) return money(value);
  if (typeof value === "number" && /(_at|^at)$/.test(key) && value > 1e9 && value < 1e11) return new Date(value * 1000).toISOString().replace(".000Z", "Z");
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  }
  return String(value);
}

function auditRow(entry, zone, filterBy) {
  const details = entry.details && typeof entry.details === "object" ? Object.entries(entry.details) : [];
  const filterButton = (name, value, text) => h("button", { type: "button", class: "link", title: `Show only entries with this ${name}`, onclick: () => filterBy(name, value) }, text);
  return h("tr", {},
    h("td", { "data-label": "Time", tabindex: "-1", class: "when" }, h("time", { datetime: entry.at }, stamp(entry.at, zone))),
    h("td", { "data-label": "Actor" }, entry.actor_id
      ? filterButton("actor_id", entry.actor_id, entry.actor_email || entry.actor_id)
      : h("span", { class: "muted" }, entry.actor_email || "system")),
    h("td", { "data-label": "Action", class: "action" }, filterButton("action", entry.action, entry.action)),
    h("td", { "data-label": "Target", class: "mono" }, entry.target ? filterButton("target", entry.target, entry.target) : "—"),
    h("td", { "data-label": "IP", class: "mono ip" }, entry.ip || "—"),
    h("td", { "data-label": "Details" }, details.length
      ? h("dl", { class: "details" }, details.map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, detailValue(k, v))]))
      : "—"));
}

// ---------------------------------------------------------------------------------------------
// Users

export async function renderUsers(body, ctx) {
  const tbody = h("tbody", {});
  const status = h("div", { class: "form-status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more users");
  let cursor = null;

  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) q.set("cursor", cursor);
    const page = await api(`/api/v1/admin/users?${q}`);
    cursor = page.next_cursor;
    for (const user of page.items) tbody.append(userRow(user, ctx.user, status));
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => runAction(more, status, async () => {
    await load();
    return null;
  }, "Loading…"));
  await load();
  if (!ctx.current()) return;
  replace(body,
    h("p", { class: "hint" }, "Customers buy tickets; staff check tickets in at the door; admins run the box office. A disabled account cannot log in, and its sessions end at once."),
    status,
    h("div", { class: "table-wrap" }, h("table", { class: "stack users-table" },
      h("caption", { class: "visually-hidden" }, "Users, oldest first"),
      h("thead", {}, h("tr", {}, ["Email", "Since", "Role", "Account"].map((t) => h("th", { scope: "col" }, t)))),
      tbody)),
    h("div", { class: "actions" }, more));
}

function userRow(user, me, status) {
  const self = user.id === me.id;
  const cells = () => {
    const roleSelect = field({
      label: `Role of ${user.email}`, name: "role", value: user.role,
      options: [["customer", "Customer"], ["staff", "Staff (door)"], ["admin", "Admin"]],
      attrs: { disabled: self || undefined },
    });
    roleSelect.wrap.querySelector("label").classList.add("visually-hidden");
    const form = h("form", { class: "role-form" }, roleSelect.wrap,
      self ? null : h("button", { type: "submit", class: "secondary small" }, "Change role", h("span", { class: "visually-hidden" }, ` of ${user.email}`)));
    const formStatus = h("span", {});
    onSubmit(form, status, async () => {
      if (roleSelect.input.value === user.role) return `${user.email} already is ${user.role}.`;
      const updated = await api(`/api/v1/admin/users/${encodeURIComponent(user.id)}/role`, { method: "PUT", body: { role: roleSelect.input.value } });
      Object.assign(user, updated);
      redraw();
      return `${user.email} is now ${updated.role}.`;
    }, { busyText: "Saving…" });
    const disabled = !!user.disabled_at;
    const toggle = self ? null : h("button", { type: "button", class: disabled ? "secondary small" : "danger small" },
      disabled ? "Enable" : "Disable", h("span", { class: "visually-hidden" }, ` ${user.email}`));
    toggle?.addEventListener("click", () => runAction(toggle, status, async () => {
      const updated = await api(`/api/v1/admin/users/${encodeURIComponent(user.id)}/${disabled ? "enable" : "disable"}`, { method: "POST" });
      Object.assign(user, updated);
      redraw();
      row.querySelector("td:last-child button")?.focus();
      return updated.disabled_at ? `${user.email} is disabled: it cannot log in and its sessions have ended.` : `${user.email} is enabled again.`;
    }, disabled ? "Enabling…" : "Disabling…"));
    return [
      h("td", { "data-label": "Email" }, user.email, self ? h("span", { class: "muted" }, " (you)") : null),
      h("td", { "data-label": "Since" }, new Date(user.created_at).toLocaleDateString()),
      h("td", { "data-label": "Role" }, form, formStatus),
      h("td", { "data-label": "Account" },
        disabled ? h("span", { class: "badge bad" }, "Disabled") : h("span", { class: "badge ok" }, "Active"), " ", toggle,
        self ? h("span", { class: "hint" }, " You cannot change your own account.") : null),
    ];
  };
  const row = h("tr", {});
  const redraw = () => replace(row, cells());
  redraw();
  return row;
}


