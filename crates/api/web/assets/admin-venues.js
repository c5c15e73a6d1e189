// Box office: venues, and the halls of a venue with their seat layouts.

import { api, h, replace, newKey, errorBox } from "/assets/app.js";
import { field, onSubmit, okNode, FieldError, timeZones, isTimeZone, localZone, count, uid, describe } from "/assets/admin-util.js";
import { layoutEditor, formatLayout, checkLayout, parseJson, drawLayout, legend } from "/assets/admin-layout.js";

// ---------------------------------------------------------------------------------------------
// Venues

export async function renderVenues(body, ctx) {
  const venues = await ctx.store.venues();
  if (!ctx.current()) return;

  const list = h("div", { class: "venue-list" });
  function drawList(items) {
    if (!items.length) {
      replace(list, h("p", { class: "notice info" }, "No venues yet. Create the first one below."));
      return;
    }
    replace(list, h("div", { class: "table-wrap" }, h("table", { class: "stack" },
      h("caption", { class: "visually-hidden" }, "Venues"),
      h("thead", {}, h("tr", {}, ["Name", "City", "Time zone", "Halls"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map((venue) => h("tr", {},
        h("td", { "data-label": "Name" }, h("strong", {}, venue.name)),
        h("td", { "data-label": "City" }, venue.city),
        h("td", { "data-label": "Time zone" }, venue.time_zone),
        h("td", { "data-label": "Halls" }, h("a", { href: `#halls/${encodeURIComponent(venue.id)}` }, `Halls of ${venue.name}`))))))));
  }
  drawList(venues);

  // The create form.
  const zones = timeZones();
  const datalistId = uid("zones");
  const name = field({ label: "Name", name: "name", required: true, attrs: { maxlength: 200, autocomplete: "off" } });
  const city = field({ label: "City", name: "city", required: true, attrs: { maxlength: 100, autocomplete: "address-level2" } });
  const zone = field({
    label: "Time zone", name: "time_zone", required: true, value: localZone(),
    hint: "The IANA name of the venue's zone, e.g. Europe/Berlin. Showtimes of this venue are entered in its local time.",
    attrs: { list: datalistId, autocomplete: "off", spellcheck: "false", maxlength: 64 },
  });
  const status = h("div", { class: "form-status" });
  const form = h("form", { class: "panel admin-form form-narrow" },
    h("h3", {}, "New venue"),
    name.wrap, city.wrap, zone.wrap,
    h("datalist", { id: datalistId }, zones.map((z) => h("option", { value: z }))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create venue")),
    status);
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  onSubmit(form, status, async () => {
    if (!name.input.value.trim()) throw new FieldError("Enter the venue's name", name);
    if (!city.input.value.trim()) throw new FieldError("Enter the city", city);
    const tz = zone.input.value.trim();
    if (!isTimeZone(tz)) throw new FieldError(`“${tz}” is not a time zone this browser knows: pick one from the suggestions, e.g. Europe/Berlin`, zone);
    const venue = await api("/api/v1/admin/venues", {
      method: "POST",
      body: { name: name.input.value.trim(), city: city.input.value.trim(), time_zone: tz },
      idempotencyKey: key,
    });
    key = newKey();
    ctx.store.invalidate("venues");
    drawList(await ctx.store.venues());
    name.input.value = "";
    city.input.value = "";
    return okNode(`Venue “${venue.name}” created. `, h("a", { href: `#halls/${encodeURIComponent(venue.id)}` }, "Add its halls"));
  }, { busyText: "Creating…" });

  replace(body,
    h("p", { class: "hint" }, "Venues are the places where events are on; each has halls with seat layouts."),
    list, form);
}

// ---------------------------------------------------------------------------------------------
// Halls

export async function renderHalls(body, ctx) {
  const venues = await ctx.store.venues();
  if (!ctx.current()) return;
  if (!venues.length) {
    replace(body, h("p", { class: "notice info" }, "Halls belong to a venue. ", h("a", { href: "#venues" }, "Create a venue first"), "."));
    return;
  }
  const venueId = venues.some((v) => v.id === ctx.arg) ? ctx.arg : venues[0].id;
  const picker = field({
    label: "Venue", name: "venue", value: venueId,
    options: venues.map((v) => [v.id, `${v.name} (${v.city})`]),
  });
  const content = h("div", { class: "hall-content" });
  picker.input.addEventListener("change", () => {
    ctx.setArg(picker.input.value);
    showVenue(venues.find((v) => v.id === picker.input.value));
  });
  replace(body, h("div", { class: "form-narrow" }, picker.wrap), content);

  async function showVenue(venue) {
    replace(content, h("p", { class: "loading" }, "Loading halls…"));
    let halls;
    try {
      halls = await ctx.store.halls(venue.id);
    } catch (error) {
      replace(content, errorBox(`Could not load the halls of ${venue.name}: ${describe(error)}`));
      return;
    }
    if (picker.input.value !== venue.id || !ctx.current()) return;
    const list = h("div", { class: "hall-list" });
    const drawList = (items) => replace(list, items.length
      ? h("ul", { class: "admin-list" }, items.map((hall) => hallItem(hall, venue, ctx)))
      : h("p", { class: "notice info" }, `${venue.name} has no halls yet. Create one below.`));
    drawList(halls);
    replace(content,
      h("h3", {}, `Halls of ${venue.name}`),
      list,
      newHallForm(venue, ctx, async () => {
        ctx.store.invalidate(`halls:${venue.id}`);
        drawList(await ctx.store.halls(venue.id));
      }));
  }
  showVenue(venues.find((v) => v.id === venueId));
}

function hallItem(hall, venue, ctx) {
  const detail = h("div", { class: "hall-detail" });
  let open = null;
  const info = h("span", { class: "muted" }, `${count(hall.places)} places · ${hall.categories.join(", ")}`);
  const viewButton = h("button", { type: "button", class: "secondary small", "aria-expanded": "false" }, "Show layout");
  const editButton = h("button", { type: "button", class: "secondary small", "aria-expanded": "false" }, "Replace layout");
  const item = h("li", { class: "admin-item" },
    h("div", { class: "item-main" }, h("strong", {}, hall.name), " ", info),
    h("div", { class: "item-actions" }, viewButton, editButton),
    detail);

  const setOpen = (which) => {
    open = open === which ? null : which;
    viewButton.setAttribute("aria-expanded", String(open === "view"));
    editButton.setAttribute("aria-expanded", String(open === "edit"));
    viewButton.textContent = open === "view" ? "Hide layout" : "Show layout";
    if (open === "view") {
      const checked = checkLayout(parseJson(JSON.stringify(hall.layout)));
      replace(detail, h("div", { class: "layout-view" },
        h("div", { class: "layout-picture" }, drawLayout(checked, { title: `Layout of ${hall.name}` })),
        h("div", { class: "layout-legend" }, legend(checked))));
    } else if (open === "edit") {
      replace(detail, replaceLayoutForm(hall, venue, ctx, (updated) => {
        Object.assign(hall, updated);
        info.textContent = `${count(hall.places)} places · ${hall.categories.join(", ")}`;
      }));
      detail.querySelector("textarea")?.focus();
    } else {
      replace(detail);
    }
  };
  viewButton.addEventListener("click", () => setOpen("view"));
  editButton.addEventListener("click", () => setOpen("edit"));
  return item;
}

function replaceLayoutForm(hall, venue, ctx, onDone) {
  const editor = layoutEditor({ initial: formatLayout(hall.layout), label: `New layout of ${hall.name} (JSON)` });
  const status = h("div", { class: "form-status" });
  const form = h("form", { class: "panel admin-form" },
    h("h4", {}, `Replace the layout of ${hall.name}`),
    h("p", { class: "notice warn" },
      "The tickets of this hall's showtimes follow the new layout. This is refused while any of its showtimes has sold or held tickets, and every showtime needs a price for each new category."),
    editor.element,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Replace layout")),
    status);
  onSubmit(form, status, async () => {
    const checked = editor.read();
    const updated = await api(`/api/v1/admin/halls/${encodeURIComponent(hall.id)}/layout`, { method: "PUT", body: checked.layout });
    ctx.store.invalidate(`halls:${venue.id}`);
    onDone(updated);
    return `The layout of ${hall.name} was replaced: ${count(updated.places)} places.`;
  }, { busyText: "Replacing…" });
  return form;
}

function newHallForm(venue, ctx, onCreated) {
  const name = field({ label: "Hall name", name: "name", required: true, attrs: { maxlength: 100, autocomplete: "off" } });
  const editor = layoutEditor({ label: "Layout (JSON)" });
  const status = h("div", { class: "form-status" });
  const form = h("form", { class: "panel admin-form" },
    h("h3", {}, `New hall in ${venue.name}`),
    h("div", { class: "form-narrow" }, name.wrap),
    editor.element,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create hall")),
    status);
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  onSubmit(form, status, async () => {
    if (!name.input.value.trim()) throw new FieldError("Enter the hall's name", name);
    const checked = editor.read();
    const hall = await api(`/api/v1/admin/venues/${encodeURIComponent(venue.id)}/halls`, {
      method: "POST",
      body: { name: name.input.value.trim(), layout: checked.layout },
      idempotencyKey: key,
    });
    key = newKey();
    await onCreated(hall);
    name.input.value = "";
    editor.set("");
    const events = await ctx.store.events().catch(() => null);
    // Showtimes belong to an event: with none yet, the way on is to create one.
    const next = events && !events.length
      ? [h("a", { href: "#events" }, "Create an event"), ` to put on in ${hall.name}.`]
      : [h("a", { href: "#showtimes", onclick: () => (ctx.store.preferredHall = hall.id) }, "Put an event on in it"),
        ` (the showtime form will have ${hall.name} chosen, for whichever event you pick).`];
    return okNode(`Hall “${hall.name}” created with ${count(hall.places)} places. `, ...next);
  }, { busyText: "Creating…" });
  return form;
}
