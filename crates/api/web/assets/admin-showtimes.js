// Box office: the showtimes of an event. List, create (hall, start in the venue's zone, sale
// window, a price per category of the hall), change prices, cancel (refunds every buyer),
// delete (without sales), the waiting room, and links to the sales dashboard.

import { api, h, replace, newKey, errorBox, money, ApiError } from "/assets/app.js";
import {
  field, onSubmit, runAction, okNode, say, FieldError, uid, describe, parseAmount, formatAmount, currencyDigits,
  fromZoned, toZoned, whenIn, zoneAbbreviation, count, plural,
} from "/assets/admin-util.js";

const CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY", "CAD", "AUD"];

export async function renderShowtimes(body, ctx) {
  const events = await ctx.store.events();
  if (!ctx.current()) return;
  if (!events.length) {
    replace(body, h("p", { class: "notice info" }, "Showtimes belong to an event. ", h("a", { href: "#events" }, "Create an event first"), "."));
    return;
  }
  const eventId = events.some((e) => e.id === ctx.arg) ? ctx.arg : events[0].id;
  const picker = field({
    label: "Event", name: "event", value: eventId,
    options: events.map((e) => [e.id, `${e.title}${e.published ? "" : " (draft)"}`]),
  });
  const content = h("div", { class: "showtime-content" });
  picker.input.addEventListener("change", () => {
    ctx.setArg(picker.input.value);
    showEvent(events.find((e) => e.id === picker.input.value));
  });
  replace(body, h("div", { class: "form-narrow" }, picker.wrap), content);

  async function showEvent(event) {
    replace(content, h("p", { class: "loading" }, "Loading showtimes…"));
    const list = h("div", { class: "showtime-list" });
    const listStatus = h("div", { class: "form-status" });
    async function reload() {
      const showtimes = await api(`/api/v1/admin/events/${encodeURIComponent(event.id)}/showtimes`);
      if (picker.input.value !== event.id) return;
      showtimes.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
      replace(list, showtimes.length
        ? h("ul", { class: "showtime-cards" }, showtimes.map((showtime) => showtimeCard(showtime, listStatus, reload)))
        : h("p", { class: "notice info" }, `“${event.title}” has no showtimes yet. Create one below.`));
    }
    try {
      await reload();
    } catch (error) {
      replace(content, errorBox(`Could not load the showtimes of “${event.title}”: ${describe(error)}`));
      return;
    }
    if (picker.input.value !== event.id || !ctx.current()) return;
    replace(content,
      h("h3", {}, `Showtimes of “${event.title}”`),
      event.published ? null : h("p", { class: "notice warn" },
        "This event is a draft: its showtimes are not listed publicly until you ",
        h("a", { href: "#events" }, "publish it"), "."),
      listStatus,
      list,
      await newShowtimeForm(event, ctx, reload));
  }
  showEvent(events.find((e) => e.id === eventId));
}

function statusBadge(showtime) {
  const now = Date.now();
  if (showtime.cancelled_at) return h("span", { class: "badge bad" }, "Cancelled");
  if (Date.parse(showtime.starts_at) <= now) return h("span", { class: "badge" }, "Past");
  if (Date.parse(showtime.on_sale_from) > now) return h("span", { class: "badge warn" }, "Not on sale yet");
  if (Date.parse(showtime.on_sale_until) <= now) return h("span", { class: "badge" }, "Sales ended");
  if (showtime.seats_available === 0) return h("span", { class: "badge bad" }, "Sold out");
  return h("span", { class: "badge ok" }, "On sale");
}

function showtimeCard(showtime, listStatus, reload) {
  const tz = showtime.venue.time_zone;
  const when = whenIn(showtime.starts_at, tz);
  const name = `${when}, ${showtime.venue.name}`;
  const detail = h("div", { class: "card-detail" });
  const status = h("div", { class: "form-status" });
  let open = null;
  const untouched = showtime.seats_available === showtime.seats_total;
  const buttons = {};
  const toggle = (which, build) => {
    open = open === which ? null : which;
    for (const [key, button] of Object.entries(buttons)) button.setAttribute("aria-expanded", String(open === key));
    replace(status);
    if (open) {
      replace(detail, build());
      (detail.querySelector("input, select, textarea, button:not(.link)") || detail).focus?.();
    } else {
      replace(detail);
      buttons[which].focus();
    }
  };
  const close = () => open && toggle(open);
  const button = (key, label, build, cls = "secondary small") => {
    const b = h("button", { type: "button", class: cls, "aria-expanded": "false" }, label, h("span", { class: "visually-hidden" }, ` (${name})`));
    b.addEventListener("click", () => toggle(key, build));
    buttons[key] = b;
    return b;
  };
  const cancelled = !!showtime.cancelled_at;
  const prices = showtime.prices.map((p) => `${p.category} ${money(p.price)}`).join(" · ");
  const sold = showtime.seats_total - showtime.seats_available;
  return h("li", { class: ["showtime-card", cancelled && "cancelled"] },
    h("div", { class: "card-head" },
      h("h4", {}, when, h("span", { class: "zone" }, ` ${zoneAbbreviation(tz, showtime.starts_at)}`)),
      statusBadge(showtime)),
    h("p", { class: "card-meta" }, `${showtime.venue.name} · ${showtime.hall} · ${showtime.venue.city}`),
    h("p", { class: "card-meta" },
      `${count(showtime.seats_available)} of ${count(showtime.seats_total)} places available`,
      sold ? ` (${count(sold)} sold or held)` : ""),
    h("p", { class: "card-meta" }, prices),
    h("p", { class: "card-meta muted" },
      cancelled
        ? `Cancelled ${whenIn(showtime.cancelled_at, tz)}`
        : `On sale ${whenIn(showtime.on_sale_from, tz)} – ${whenIn(showtime.on_sale_until, tz)} (${tz})`),
    h("div", { class: "item-actions" },
      h("a", { class: "button small", href: `/admin/showtimes/${encodeURIComponent(showtime.id)}` }, "Sales dashboard",
        h("span", { class: "visually-hidden" }, ` (${name})`)),
      cancelled ? null : [
        h("a", { class: "small-link", href: `/showtimes/${encodeURIComponent(showtime.id)}` }, "Seat map", h("span", { class: "visually-hidden" }, ` (${name})`)),
        button("prices", "Change prices", () => pricesForm(showtime, listStatus, close, reload)),
        button("queue", "Waiting room", () => waitingRoom(showtime, status)),
        button("cancel", "Cancel showtime…", () => cancelPanel(showtime, listStatus, close, reload), "danger small"),
        untouched ? button("delete", "Delete…", () => deletePanel(showtime, listStatus, close, reload), "danger small") : null,
      ]),
    status,
    detail);
}

// ---------------------------------------------------------------------------------------------
// Prices

/** Price inputs, one per category: returns { element, read(currency) → {category: minor} }. */
function priceInputs(categories, currency, initial = {}, counts = new Map()) {
  const fields = categories.map((category) => {
    const value = initial[category];
    const f = field({
      label: category, name: `price-${category}`,
      value: value === undefined ? "" : typeof value === "number" ? formatAmount(value, currency) : value,
      hint: counts.has(category) ? `${plural(counts.get(category), "place")}` : undefined,
      attrs: { inputmode: "decimal", autocomplete: "off", placeholder: currencyDigits(currency) ? "12.50" : "1200", class: "price-input", "data-category": category },
    });
    return { category, f };
  });
  return {
    element: h("div", { class: "price-grid" }, fields.map(({ f }) => f.wrap)),
    fields,
    read(cur) {
      const prices = {};
      for (const { category, f } of fields) {
        try {
          prices[category] = parseAmount(f.input.value, cur);
        } catch (error) {
          throw new FieldError(`${category}: ${error.message}`, f);
        }
      }
      return prices;
    },
    values() {
      return Object.fromEntries(fields.map(({ category, f }) => [category, f.input.value]));
    },
  };
}

function pricesForm(showtime, listStatus, close, reload) {
  const currency = showtime.prices[0]?.price.currency || "EUR";
  const current = Object.fromEntries(showtime.prices.map((p) => [p.category, p.price.amount]));
  const inputs = priceInputs(showtime.prices.map((p) => p.category), currency, current);
  const formStatus = h("div", { class: "form-status" });
  const form = h("form", { class: "inline-form" },
    h("fieldset", {}, h("legend", {}, `New prices (${currency})`), inputs.element),
    h("p", { class: "hint" }, "Tickets already sold keep the price that was paid."),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save prices"), h("button", { type: "button", class: "secondary", onclick: close }, "Close")),
    formStatus);
  onSubmit(form, formStatus, async () => {
    const prices = inputs.read(currency);
    await api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/prices`, { method: "PUT", body: { prices } });
    await reload();
    say(listStatus, `Prices saved for ${whenIn(showtime.starts_at, showtime.venue.time_zone)}.`);
    return null;
  }, { busyText: "Saving…" });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Cancel and delete

function cancelPanel(showtime, listStatus, close, reload) {
  const facts = h("p", { class: "loading" }, "Looking up its sales…");
  const confirm = h("button", { type: "button", class: "danger" }, "Cancel showtime and refund buyers");
  const panel = h("div", { class: "notice warn confirm", role: "group", "aria-label": "Confirm cancellation" },
    h("p", {}, h("strong", {}, "Cancel this showtime? "),
      "Sales stop at once, it leaves the public catalog, and every order for it is refunded in full to its buyers. Their tickets become void. This cannot be undone."),
    facts,
    h("div", { class: "actions" }, confirm, h("button", { type: "button", class: "secondary", onclick: close }, "Keep the showtime")));
  api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/report`).then((report) => {
    replace(facts, report.sold
      ? `${plural(report.sold, "ticket")} sold (${money(report.gross)}) will be refunded${report.held ? `; ${plural(report.held, "seat")} on hold will be released` : ""}.`
      : `No tickets sold yet${report.held ? `; ${plural(report.held, "seat")} on hold will be released` : ""}.`);
    facts.classList.remove("loading");
  }).catch((error) => {
    replace(facts, `Its sales could not be looked up (${describe(error)}); every order will be refunded all the same.`);
    facts.classList.remove("loading");
  });
  const formStatus = h("div", { class: "form-status" });
  panel.append(formStatus);
  confirm.addEventListener("click", () => runAction(confirm, formStatus, async () => {
    await api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/cancel`, { method: "POST" });
    await reload();
    say(listStatus, `The showtime of ${whenIn(showtime.starts_at, showtime.venue.time_zone)} is cancelled; its buyers are refunded in full.`);
    return null;
  }, "Cancelling…"));
  return panel;
}

function deletePanel(showtime, listStatus, close, reload) {
  const confirm = h("button", { type: "button", class: "danger" }, "Delete showtime");
  const panel = h("div", { class: "notice warn confirm", role: "group", "aria-label": "Confirm deletion" },
    h("p", {}, h("strong", {}, "Delete this showtime? "), "It has no sales, so it can be removed entirely with its tickets. Showtimes with sales can only be cancelled."),
    h("div", { class: "actions" }, confirm, h("button", { type: "button", class: "secondary", onclick: close }, "Keep it")));
  const formStatus = h("div", { class: "form-status" });
  panel.append(formStatus);
  confirm.addEventListener("click", () => runAction(confirm, formStatus, async () => {
    await api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}`, { method: "DELETE" });
    await reload();
    say(listStatus, `The showtime of ${whenIn(showtime.starts_at, showtime.venue.time_zone)} was deleted.`);
    return null;
  }, "Deleting…"));
  return panel;
}

// ---------------------------------------------------------------------------------------------
// Waiting room

function waitingRoom(showtime, status) {
  const tz = showtime.venue.time_zone;
  const box = h("div", { class: "inline-form waiting-room" }, h("p", { class: "loading" }, "Loading the waiting room…"));
  const draw = (room) => {
    const opens = room ? toZoned(room.opens_at, tz) : toZoned(Math.max(Date.now(), Date.parse(showtime.on_sale_from)) + 3600_000, tz);
    const date = field({ label: `Opens on (${tz})`, name: "opens-date", type: "date", value: opens.date, required: true });
    const time = field({ label: "at", name: "opens-time", type: "time", value: opens.time, required: true });
    const rate = field({ label: "Buyers admitted per minute", name: "rate", type: "number", value: room?.admit_per_minute ?? 300, required: true, attrs: { min: 1, max: 1000000, step: 1, inputmode: "numeric" } });
    const minutes = field({ label: "Minutes each admission lasts", name: "minutes", type: "number", value: room?.admission_minutes ?? 10, required: true, attrs: { min: 1, max: 1440, step: 1, inputmode: "numeric" } });
    const formStatus = h("div", { class: "form-status" });
    const remove = room ? h("button", { type: "button", class: "danger" }, "Remove waiting room") : null;
    const form = h("form", {},
      room
        ? h("p", { class: "notice info" },
          h("strong", {}, "Sold through a waiting room. "),
          `Opens ${whenIn(room.opens_at, tz)}; admits ${count(room.admit_per_minute)} a minute for ${plural(room.admission_minutes, "minute")} each. `,
          `${plural(room.queued, "buyer")} queued, ${count(room.admitted)} admitted so far.`)
        : h("p", { class: "notice info" }, "No waiting room: everyone can buy as soon as the showtime is on sale. A waiting room queues buyers of a flash sale and admits them at a steady rate; who arrives before the opening gets a random place."),
      h("fieldset", {}, h("legend", {}, room ? "Change the waiting room" : "Set up a waiting room"),
        h("div", { class: "row" }, date.wrap, time.wrap),
        h("div", { class: "row" }, rate.wrap, minutes.wrap)),
      h("div", { class: "actions" }, h("button", { type: "submit" }, room ? "Save waiting room" : "Set up waiting room"), remove),
      formStatus);
    onSubmit(form, formStatus, async () => {
      let opensAt;
      try {
        opensAt = fromZoned(date.input.value, time.input.value, tz);
      } catch (error) {
        throw new FieldError(error.message, date.input.value ? time : date);
      }
      const perMinute = Number(rate.input.value);
      if (!Number.isInteger(perMinute) || perMinute < 1 || perMinute > 1_000_000) throw new FieldError("Admit between 1 and 1,000,000 buyers a minute", rate);
      const ttl = Number(minutes.input.value);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 1440) throw new FieldError("An admission lasts 1 to 1440 minutes", minutes);
      const saved = await api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/waiting-room`, {
        method: "PUT", body: { opens_at: opensAt, admit_per_minute: perMinute, admission_minutes: ttl },
      });
      draw(saved);
      replace(status, okNode(`Waiting room saved: it opens ${whenIn(saved.opens_at, tz)}.`));
      return null;
    }, { busyText: "Saving…" });
    remove?.addEventListener("click", () => runAction(remove, formStatus, async () => {
      await api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/waiting-room`, { method: "DELETE" });
      draw(null);
      replace(status, okNode("Waiting room removed: the showtime sells to everyone again."));
      return null;
    }, "Removing…"));
    replace(box, form);
  };
  api(`/api/v1/admin/showtimes/${encodeURIComponent(showtime.id)}/waiting-room`)
    .then(draw)
    .catch((error) => {
      if (error instanceof ApiError && error.status === 404) draw(null);
      else replace(box, errorBox(`Could not load the waiting room: ${describe(error)}`));
    });
  return box;
}

// ---------------------------------------------------------------------------------------------
// New showtime

async function newShowtimeForm(event, ctx, reload) {
  let halls;
  try {
    halls = await ctx.store.allHalls();
  } catch (error) {
    return errorBox(`Could not load the venues and halls: ${describe(error)}`);
  }
  const heading = h("h3", {}, `New showtime of “${event.title}”`);
  if (!halls.length) {
    return h("div", { class: "panel" }, heading, h("p", {}, "There is no hall to put it on in. ", h("a", { href: "#venues" }, "Create a venue"), " and a hall first."));
  }
  const hall = field({
    label: "Hall", name: "hall", required: true,
    options: halls.map(({ venue, hall: x }) => [x.id, `${venue.name} (${venue.city}) · ${x.name} · ${count(x.places)} places`]),
  });
  // Coming from "Put an event on in it": the hall just created is the one chosen.
  const preferred = halls.find(({ hall: x }) => x.id === ctx.store.preferredHall);
  if (preferred) {
    hall.input.value = preferred.hall.id;
    hall.wrap.append(h("p", { class: "hint preselected" },
      `${preferred.hall.name}, the hall you just created, is chosen; pick another here if you like.`));
  }
  const chosen = () => halls.find(({ hall: x }) => x.id === hall.input.value);
  const zoneNote = h("p", { class: "hint zone-note" });
  const startDate = field({ label: "Start date", name: "start-date", type: "date", required: true });
  const startTime = field({ label: "Start time", name: "start-time", type: "time", required: true, value: "20:00" });
  const fromDate = field({ label: "On sale from: date", name: "from-date", type: "date" });
  const fromTime = field({ label: "On sale from: time", name: "from-time", type: "time" });
  const untilDate = field({ label: "Sales end: date", name: "until-date", type: "date" });
  const untilTime = field({ label: "Sales end: time", name: "until-time", type: "time" });
  const currencyList = uid("currencies");
  const currency = field({
    label: "Currency", name: "currency", value: "EUR", required: true, hint: "ISO code, e.g. EUR",
    attrs: { list: currencyList, maxlength: 3, autocomplete: "off", autocapitalize: "characters", spellcheck: "false", class: "currency-input" },
  });
  const pricesBox = h("div", {});
  const pricesLegend = h("legend", {}, "Prices");
  let inputs = null;

  function syncHall() {
    const { venue, hall: x } = chosen();
    const tz = venue.time_zone;
    zoneNote.textContent = `Dates and times are local to ${venue.name}: ${tz} (${zoneAbbreviation(tz)}).`;
    const typed = inputs ? inputs.values() : {};
    const counts = placeCounts(x.layout);
    inputs = priceInputs(x.categories, currency.input.value.trim().toUpperCase() || "EUR", typed, counts);
    replace(pricesBox, inputs.element);
    syncCurrency();
  }
  function syncCurrency() {
    const code = currency.input.value.trim().toUpperCase();
    pricesLegend.textContent = `Prices per category${/^[A-Z]{3}$/.test(code) ? ` (${code})` : ""}`;
  }
  hall.input.addEventListener("change", syncHall);
  currency.input.addEventListener("input", syncCurrency);
  syncHall();

  const status = h("div", { class: "form-status" });
  const form = h("form", { class: "panel admin-form form-wide" },
    heading,
    hall.wrap,
    h("fieldset", {}, h("legend", {}, "Starts"), zoneNote, h("div", { class: "row" }, startDate.wrap, startTime.wrap)),
    h("details", { class: "sale-window" },
      h("summary", {}, "Sale window (optional)"),
      h("p", { class: "hint" }, "Empty: on sale from now until the start. Sales must end no later than the start."),
      h("div", { class: "row" }, fromDate.wrap, fromTime.wrap),
      h("div", { class: "row" }, untilDate.wrap, untilTime.wrap)),
    h("div", { class: "form-narrow" }, currency.wrap),
    h("datalist", { id: currencyList }, CURRENCIES.map((c) => h("option", { value: c }))),
    h("fieldset", {}, pricesLegend, h("p", { class: "hint" }, "A price for every category of the hall, as you would write it: 12.50"), pricesBox),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create showtime")),
    status);

  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  onSubmit(form, status, async () => {
    const { venue, hall: x } = chosen();
    const tz = venue.time_zone;
    const code = currency.input.value.trim().toUpperCase();
    if (!/^[A-Z]{3}$/.test(code)) throw new FieldError("The currency is a three-letter code such as EUR", currency);
    const at = (d, t, what) => {
      if (!d.input.value) throw new FieldError(`Enter the ${what} date`, d);
      if (!t.input.value) throw new FieldError(`Enter the ${what} time`, t);
      try {
        return fromZoned(d.input.value, t.input.value, tz);
      } catch (error) {
        throw new FieldError(error.message, t);
      }
    };
    const startsAt = at(startDate, startTime, "start");
    const bodyOut = { event_id: event.id, hall_id: x.id, starts_at: startsAt, currency: code, prices: {} };
    if (fromDate.input.value || fromTime.input.value) bodyOut.on_sale_from = at(fromDate, fromTime, "on-sale");
    if (untilDate.input.value || untilTime.input.value) bodyOut.on_sale_until = at(untilDate, untilTime, "sales-end");
    if (Date.parse(startsAt) <= Date.now()) throw new FieldError("The start is in the past", startDate);
    const until = bodyOut.on_sale_until || startsAt;
    if (Date.parse(until) > Date.parse(startsAt)) throw new FieldError("Sales must end no later than the start", untilDate);
    if (bodyOut.on_sale_from && Date.parse(bodyOut.on_sale_from) >= Date.parse(until)) throw new FieldError("Sales must start before they end", fromDate);
    bodyOut.prices = inputs.read(code);
    const created = await api("/api/v1/admin/showtimes", { method: "POST", body: bodyOut, idempotencyKey: key });
    key = newKey();
    await reload();
    return okNode(`Showtime created: ${whenIn(created.starts_at, tz)} at ${venue.name}, ${x.name}. `,
      h("a", { href: `/admin/showtimes/${encodeURIComponent(created.id)}` }, "Open its sales dashboard"), " · ",
      h("a", { href: `/showtimes/${encodeURIComponent(created.id)}` }, "See its seat map"),
      event.published ? "" : ". The event is a draft: publish it to list this showtime publicly.");
  }, { busyText: "Creating…" });
  return form;
}

/** Places per category of a layout. */
function placeCounts(layout) {
  const counts = new Map();
  const add = (c, n) => counts.set(c, (counts.get(c) || 0) + n);
  for (const section of layout.sections || []) {
    if (section.kind === "general_admission") add(section.category, section.capacity);
    else {
      for (const row of section.rows || []) {
        const overrides = row.overrides || [];
        add(row.category, row.seats - overrides.length);
        for (const o of overrides) add(o.category, 1);
      }
    }
  }
  return counts;
}
