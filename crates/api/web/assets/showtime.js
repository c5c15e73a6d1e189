// Seat selection: the live SVG seat map of a showtime, its waiting room, and the hold.
//
// The seat map (GET /seats) is fetched once for the layout, ids and prices; the showtime's event
// stream (SSE) then keeps every seat's status current: a `snapshot` on connect (and whenever
// the server had to resync us), an `inventory` event per hold, release, expiry, sale and
// refund, and `queue` events when the showtime sells through a waiting room. Seats are SVG
// elements built once per view and updated in place. Big halls (the arena) show an overview of
// their sections first and one section's seats at a time, so the page never holds more than a
// section's worth of seat elements, and the map is a single tab stop with a roving tabindex.
// On touch screens a map opens zoomed in far enough for fingers (seats of 24 CSS px), pans
// inside its box, and keeps the row labels in view in a rail at the box's left edge.
//
// The holds this browser made for the showtime are remembered (sessionStorage, a list): the
// map shows their seats as "held by you" and offers to continue to checkout or release them
// all. Checkout's "Change seats" releases its hold and comes back here with those seats (or
// that standing quantity) selected again (`released_ids` in the saved selection).
//
// Every snapshot and change carries the inventory version it reflects; one older than what the
// map already shows (a slow poll answered after the stream's newer events) is ignored. Sale and
// waiting-room times are judged by the server's clock (estimated from its Date header), not by
// the device's, which may be minutes off.

import {
  api, ApiError, announce, currentUser, dateTime, h, money, newKey, replace, s, segment, setTitle, timeOfDay, serverSkew,
} from "/assets/app.js";

const showtimeId = segment(1);
const app = document.getElementById("app");
const here = location.pathname;

const AVAILABLE = 0;
const HELD = 1;
const SOLD = 2;
const CODES = { A: AVAILABLE, H: HELD, S: SOLD, available: AVAILABLE, held: HELD, sold: SOLD };
const STATUS_WORD = ["available", "on hold", "sold"];

const UNIT = 24; // seat pitch in SVG units
const SEAT = 20; // seat size
const GUTTER = 30; // room for the row labels on both sides
const BIG_HALL = 2000; // more seats than this: an overview of the sections first
const TOUCH_SCALE = 1.2; // on touch screens a map opens at least this big: seats of 24 CSS px
const DESK_SCALE = 0.7; // ...and with a mouse, seats of at least 14 px
const RAIL = 30; // the width of the row-label rail, in CSS px

const STORE = {
  selection: `marquee:selection:${showtimeId}`,
  admission: `marquee:admission:${showtimeId}`,
  flash: "marquee:flash",
  hold: `marquee:hold:${showtimeId}`,
};

// Category → palette class (cat-0 … cat-9 in showtime.css); unknown categories take the rest.
const KNOWN_CATEGORIES = { standard: 0, premium: 1, accessible: 2, lower: 3, upper: 4, floor: 5, standing: 5, vip: 6, vip_box: 6, balcony: 7 };
const SPARE_CLASSES = [8, 9, 7, 6, 3, 4, 1, 0];

const st = {
  showtime: null,
  kind: "movie",
  user: null,
  tickets: [],
  status: null, // Uint8Array of AVAILABLE | HELD | SOLD by ticket index
  sectionOf: null, // Uint16Array: ticket index → section index
  idIndex: new Map(), // ticket id → index
  sections: [],
  categoryClass: new Map(),
  selected: new Set(), // ticket indices of the chosen seats
  ga: null, // { section, quantity } of a general-admission choice
  pending: null, // ticket indices of a hold request under way
  holding: false,
  sale: "open",
  view: null,
  els: [], // seat elements of the current view, by ticket index
  nav: null, // keyboard navigation of the current view
  active: -1, // the seat that has the map's tab stop
  svg: null,
  natural: null,
  scale: 1,
  queue: null, // { room, me } when the showtime sells through a waiting room
  stream: null,
  poll: null,
  pollAbort: null, // the AbortController of the availability poll under way
  version: -1, // the newest inventory version (event id) the map reflects
  queueTimer: null, // the waiting room's fallback polling interval
  skew: 0, // the server's clock minus the device's, in ms
  holdKey: null, // { signature, key } kept across retries after a network error or while the first request runs
  limits: { perHold: 10, perShowtime: null, holdSeconds: null }, // from GET /payments/config
  gaError: null, // { section, text }: the quantity typed is not one we can book
  mine: new Set(), // ticket indices held by this browser's own active holds
  ownHolds: [], // those holds (GET /holds/{id}), newest last
  expanded: false, // the phone's selection sheet shows its details
};

const ui = {};

async function boot() {
  try {
    const seatsPromise = api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/seats`);
    seatsPromise.catch(() => {}); // reported below
    const [showtime, user, skew, limits] = await Promise.all([
      api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}`),
      currentUser().catch(() => null),
      serverSkew(),
      holdLimits(),
    ]);
    st.showtime = showtime;
    st.user = user;
    st.skew = skew;
    st.limits = limits;
    renderHeader();
    const eventPromise = api(`/api/v1/events/${encodeURIComponent(showtime.event_id)}`).catch(() => null);
    const seatMap = await seatsPromise;
    const event = await eventPromise;
    st.kind = event?.kind || "concert";
    loadSeatMap(seatMap);
    build();
    restoreSelection();
    showFlash();
    showOwnHolds();
    connect();
    setInterval(tick, 1000);
  } catch (error) {
    app.classList.remove("loading");
    app.removeAttribute("aria-busy");
    const what = error instanceof ApiError && error.status === 404
      ? "This showtime does not exist (any more). It may have been removed."
      : `The seat map could not be loaded: ${error.message}`;
    replace(app, h("div", { class: "notice error", role: "alert" }, what,
      " ", h("a", { href: "/" }, "Back to what's on")));
  }
}

// ---------------------------------------------------------------------------------------------
// Data

/** The hold limits and the hold's lifetime (GET /payments/config), or the defaults. */
async function holdLimits() {
  const limits = { perHold: 10, perShowtime: null, holdSeconds: null };
  try {
    const config = await api("/api/v1/payments/config");
    if (Number.isInteger(config.max_tickets_per_hold) && config.max_tickets_per_hold > 0) limits.perHold = config.max_tickets_per_hold;
    if (Number.isInteger(config.max_held_tickets_per_showtime)) limits.perShowtime = config.max_held_tickets_per_showtime;
    if (Number.isFinite(config.hold_seconds)) limits.holdSeconds = config.hold_seconds;
  } catch {
    // the defaults; the server has the final word anyway
  }
  return limits;
}

/** The server's time now, as far as the device can tell. */
function now() {
  return Date.now() + st.skew;
}

function loadSeatMap(seatMap) {
  const tickets = seatMap.tickets;
  st.tickets = tickets;
  if (Number.isFinite(seatMap.version)) st.version = seatMap.version;
  st.status = new Uint8Array(tickets.length);
  st.sectionOf = new Uint16Array(tickets.length);
  st.idIndex = new Map();
  st.sections = [];
  const byId = new Map();
  tickets.forEach((ticket, i) => {
    st.status[i] = CODES[ticket.status] ?? SOLD;
    st.idIndex.set(ticket.id, i);
    let section = byId.get(ticket.section_id);
    if (!section) {
      section = {
        index: st.sections.length, id: ticket.section_id, name: ticket.section, ga: ticket.row === null,
        indices: [], rows: [], maxColumn: 0, available: 0, categories: new Map(), refs: {},
      };
      byId.set(ticket.section_id, section);
      st.sections.push(section);
    }
    st.sectionOf[i] = section.index;
    section.indices.push(i);
    if (st.status[i] === AVAILABLE) section.available += 1;
    const known = section.categories.get(ticket.category);
    if (!known || ticket.price.amount < known.amount) section.categories.set(ticket.category, ticket.price);
    if (!section.ga) {
      const row = (section.rows[ticket.row_index] ??= { label: ticket.row, indices: [] });
      row.indices.push(i);
      section.maxColumn = Math.max(section.maxColumn, ticket.column_index);
    }
    if (!st.categoryClass.has(ticket.category)) {
      const used = new Set(st.categoryClass.values());
      const known2 = KNOWN_CATEGORIES[ticket.category];
      const spare = SPARE_CLASSES.find((c) => !used.has(c)) ?? st.categoryClass.size % 10;
      st.categoryClass.set(ticket.category, known2 ?? spare);
    }
  });
  for (const section of st.sections) {
    section.rows = section.rows.filter(Boolean);
    for (const row of section.rows) row.indices.sort((a, b) => tickets[a].column_index - tickets[b].column_index);
  }
}

function categoryName(category) {
  return category.replace(/[_-]+/g, " ");
}

/**
 * "Stalls A6". Rows named by numbers are labelled "Block 101 row 1 seat 1" by the server; older
 * tickets (made before that) ran them together ("Block 101 11"), so those are spelt out here.
 */
function seatName(i) {
  const t = st.tickets[i];
  if (t.row && /\d$/.test(t.row) && !/ seat \d+$/.test(t.label)) return `${t.label} (row ${t.row}, seat ${t.number})`;
  return t.label;
}

/** What a screen reader says for a seat: "Stalls A6, standard, €12.50, available". */
function seatAria(i) {
  const t = st.tickets[i];
  return `${seatName(i)}, ${categoryName(t.category)}, ${money(t.price)}, ${statusWord(i)}`;
}

/** "available", "on hold", "held by you" (a hold of this browser) or "sold". */
function statusWord(i) {
  return st.status[i] === HELD && st.mine.has(i) ? "held by you" : STATUS_WORD[st.status[i]];
}

function catClass(category) {
  return `cat-${st.categoryClass.get(category) ?? 0}`;
}

function count(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

function saleState(showtime) {
  const at = now();
  if (showtime.cancelled_at) return "cancelled";
  if (at < Date.parse(showtime.on_sale_from)) return "soon";
  if (at >= Date.parse(showtime.on_sale_until)) return "closed";
  return "open";
}

// ---------------------------------------------------------------------------------------------
// Page

function renderHeader() {
  const show = st.showtime;
  const tz = show.venue?.time_zone;
  setTitle(`${show.event_title} — seats`);
  document.getElementById("title").textContent = show.event_title;
  const link = document.getElementById("event-link");
  link.href = `/events/${encodeURIComponent(show.event_id)}`;
  link.textContent = `All showtimes of ${show.event_title}`;
  replace(document.getElementById("when"),
    h("time", { datetime: show.starts_at }, dateTime(show.starts_at, tz)),
    ` · ${show.venue.name}, ${show.hall} · ${show.venue.city}`);
}

function build() {
  st.sale = saleState(st.showtime);
  ui.flash = h("div", { class: "flash" });
  ui.own = h("div", { class: "own-holds" });
  ui.queue = h("section", { class: "queue panel", hidden: true, "aria-labelledby": "queue-title" });
  ui.live = h("span", { class: "live-state", "data-state": "connecting" }, "Connecting…");
  ui.view = h("div", { class: "map-view" });
  ui.notices = h("div", { class: "seat-notices" });
  ui.holdError = h("div", { class: "hold-error" });
  ui.summaryBody = h("div", { class: "summary-body" });
  ui.holdHint = h("p", { class: "hint hold-hint" });
  ui.holdButton = h("button", { type: "button", class: "hold-button", onclick: hold }, "Hold seats");
  // On a phone the selection is one line at the bottom ("2 seats · €148.00  [Hold seats]");
  // this button shows and hides the details (the seats, their prices, Remove).
  ui.sheetLine = h("span", { class: "sheet-line" });
  ui.sheetToggle = h("button", {
    type: "button", class: "sheet-toggle", "aria-expanded": "false", "aria-controls": "summary-details",
    onclick: () => setExpanded(!st.expanded),
  }, ui.sheetLine, h("span", { class: "visually-hidden" }, ": details"), h("span", { class: "chevron", "aria-hidden": "true" }));
  ui.details = h("div", { id: "summary-details", class: "summary-details" }, ui.summaryBody);

  const saleNotice = {
    cancelled: h("div", { class: "notice error", role: "alert" }, "This showtime was cancelled. Its tickets are no longer sold; buyers are refunded."),
    soon: h("div", { class: "notice info" }, "Tickets go on sale on ",
      h("strong", {}, dateTime(st.showtime.on_sale_from, st.showtime.venue?.time_zone)),
      ". You can look at the seats now."),
    closed: h("div", { class: "notice warn" }, "Sales for this showtime have closed."),
    open: null,
  }[st.sale];

  const mapPanel = h("section", { class: "map-panel panel", "aria-labelledby": "map-title" },
    h("div", { class: "map-head" },
      h("h2", { id: "map-title" }, "Seats"),
      ui.live),
    legend(),
    h("p", { class: "limits" }, limitsText()),
    h("p", { id: "map-help", class: "hint" },
      "Click or tap a seat to select it. With a keyboard: Tab to the map, move with the arrow keys, select with Space."),
    ui.view);

  const summary = ui.summary = h("aside", { class: "summary panel", "aria-labelledby": "summary-title" },
    h("h2", { id: "summary-title" }, "Your selection"),
    ui.notices,
    ui.sheetToggle,
    ui.details,
    ui.holdError,
    h("div", { class: "actions" }, ui.holdButton),
    ui.holdHint);

  app.classList.remove("loading");
  app.removeAttribute("aria-busy");
  replace(app, symbols(), ui.flash, ui.own, saleNotice, ui.queue, h("div", { class: "picker" }, mapPanel, summary));

  if (st.sale === "soon") {
    // Open the sale on this page when it starts (if that is today).
    const wait = Date.parse(st.showtime.on_sale_from) - now();
    if (wait < 86_400_000) setTimeout(() => location.reload(), wait + 1000);
  }

  const seated = st.sections.reduce((n, sec) => n + (sec.ga ? 0 : sec.indices.length), 0);
  showView(seated > BIG_HALL && st.sections.length > 1 ? { kind: "overview" } : { kind: "all" });
  renderSummary();
}

/** "Up to 10 tickets per booking. Seats are held for 10 minutes while you pay." */
function limitsText() {
  const { perHold, holdSeconds } = st.limits;
  let text = `Up to ${count(perHold, "ticket", "tickets")} per booking.`;
  if (holdSeconds) {
    const minutes = Math.round(holdSeconds / 60);
    text += ` Your seats are held for ${minutes >= 2 ? `${minutes} minutes` : `${holdSeconds} seconds`} while you pay.`;
  }
  return text;
}

/** Shapes the seats share: the wheelchair symbol and the marks for selected, held and sold. */
function symbols() {
  return s("svg", { class: "symbols", width: 0, height: 0, "aria-hidden": "true", focusable: "false" },
    s("defs", {},
      s("symbol", { id: "sym-wheelchair", viewBox: "0 0 20 20" },
        s("circle", { cx: 10.5, cy: 4, r: 1.9, fill: "#fff" }),
        s("path", { d: "M9.6 6.6v5.2h4.2l1.9 3.9", fill: "none", stroke: "#fff", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round" }),
        s("path", { d: "M7.3 9.2a4.4 4.4 0 1 0 5.6 5.9", fill: "none", stroke: "#fff", "stroke-width": 1.6, "stroke-linecap": "round" })),
      s("symbol", { id: "sym-check", viewBox: "0 0 20 20" },
        s("path", { d: "M5 10.5l3.3 3.3L15.2 6.6", fill: "none", stroke: "#fff", "stroke-width": 2.6, "stroke-linecap": "round", "stroke-linejoin": "round" })),
      s("symbol", { id: "sym-cross", viewBox: "0 0 20 20" },
        s("path", { d: "M6.2 6.2l7.6 7.6M13.8 6.2l-7.6 7.6", fill: "none", stroke: "#fff", "stroke-width": 2.2, "stroke-linecap": "round" })),
      s("symbol", { id: "sym-held", viewBox: "0 0 20 20" },
        s("path", { d: "M6 10h8", fill: "none", stroke: "#55555f", "stroke-width": 2.4, "stroke-linecap": "round" }))));
}

function swatch(classes, mark) {
  return s("svg", { class: "swatch", viewBox: "0 0 20 20", width: 18, height: 18, "aria-hidden": "true", focusable: "false" },
    s("g", { class: classes },
      s("rect", { width: SEAT, height: SEAT, rx: 5 }),
      mark && s("use", { href: mark, width: SEAT, height: SEAT })));
}

function legend() {
  const present = new Map();
  for (const t of st.tickets) if (!present.has(t.category)) present.set(t.category, t.price);
  const prices = new Map((st.showtime.prices || []).map((p) => [p.category, p.price]));
  const items = [...present.keys()]
    .sort((a, b) => (prices.get(b)?.amount ?? 0) - (prices.get(a)?.amount ?? 0))
    .map((category) => h("li", {},
      swatch(`seat ${catClass(category)}`, category === "accessible" ? "#sym-wheelchair" : null),
      h("span", {}, categoryName(category), " ", h("strong", {}, money(prices.get(category) || present.get(category))))));
  return h("div", { class: "legend" },
    h("h3", { class: "visually-hidden" }, "Legend"),
    h("ul", { class: "legend-list", "aria-label": "Seat categories and prices" }, items),
    h("ul", { class: "legend-list", "aria-label": "Seat states" },
      h("li", {}, swatch("seat cat-0 is-selected", "#sym-check"), h("span", {}, "Your choice")),
      h("li", {}, swatch("seat is-held", "#sym-held"), h("span", {}, "On hold")),
      ui.mineLegend = h("li", { hidden: true }, swatch("seat is-held is-mine", "#sym-held"), h("span", {}, "Held by you")),
      h("li", {}, swatch("seat is-sold", "#sym-cross"), h("span", {}, "Sold"))));
}

// ---------------------------------------------------------------------------------------------
// Views: the whole hall, an overview of sections, or one section

function showView(view) {
  st.view = view;
  st.els = [];
  st.nav = null;
  st.svg = null;
  for (const section of st.sections) section.refs = {};
  if (view.kind === "overview") renderOverview();
  else renderSections(view.kind === "all" ? st.sections : [st.sections[view.section]]);
}

function renderOverview() {
  // Standing areas first (nearest the stage), then the seated sections grouped by their main
  // category (e.g. the lower and the upper tier).
  const groups = new Map();
  for (const section of [...st.sections.filter((x) => x.ga), ...st.sections.filter((x) => !x.ga)]) {
    const key = section.ga ? `ga:${section.index}` : mainCategory(section);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(section);
  }
  const blocks = [...groups.entries()].map(([key, sections]) => {
    const tiles = h("ul", { class: "tiles", "aria-label": sections.length > 1 ? `${categoryName(key)} sections` : "Sections" },
      sections.map((section) => h("li", {}, tile(section))));
    return sections.length > 1
      ? h("div", { class: "tier" }, h("h3", { class: "tier-name" }, categoryName(key)), tiles)
      : tiles;
  });
  replace(ui.view,
    h("p", { class: "overview-help" }, `${count(st.sections.length, "section", "sections")} — choose one to see its seats.`),
    h("div", { class: "venue" },
      h("div", { class: "stage-bar" }, st.kind === "movie" ? "Screen" : "Stage"),
      blocks));
}

function mainCategory(section) {
  const counts = new Map();
  for (const i of section.indices) {
    const category = st.tickets[i].category;
    counts.set(category, (counts.get(category) || 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

function tile(section) {
  const refs = section.refs;
  refs.avail = h("span", { class: "tile-avail" });
  refs.fill = h("span", { class: "tile-fill" });
  refs.mine = h("span", { class: "tile-mine" });
  refs.button = h("button", {
    type: "button", class: ["tile", section.ga && "tile-ga"], "data-section": section.index,
    onclick: () => openSection(section.index),
  },
  h("span", { class: "tile-name" }, section.name),
  h("span", { class: "tile-meta" }, section.ga ? `Standing · ${priceRange(section)}` : priceRange(section)),
  refs.avail,
  h("span", { class: "tile-bar", "aria-hidden": "true" }, refs.fill),
  refs.mine);
  updateSectionRefs(section);
  return refs.button;
}

function priceRange(section) {
  const amounts = [...section.categories.values()].sort((a, b) => a.amount - b.amount);
  if (!amounts.length) return "";
  const low = amounts[0];
  const high = amounts[amounts.length - 1];
  return low.amount === high.amount ? money(low) : `${money(low)} – ${money(high)}`;
}

function openSection(index) {
  showView({ kind: "section", section: index });
  ui.view.querySelector(".section-title")?.focus();
}

function backToOverview() {
  const from = st.view.section;
  showView({ kind: "overview" });
  ui.view.querySelector(`[data-section="${from}"]`)?.focus();
}

function renderSections(sections) {
  const parts = [];
  const single = st.view.kind === "section";
  if (single) {
    const section = sections[0];
    parts.push(h("div", { class: "section-head" },
      h("button", { type: "button", class: "secondary back", onclick: backToOverview }, "← All sections"),
      h("h3", { class: "section-title", tabindex: "-1" }, section.name)));
  }
  const seated = sections.filter((x) => !x.ga);
  ui.scroller = null;
  ui.rail = null;
  if (seated.length) {
    const svg = seatSvg(single ? seated : sections);
    st.svg = svg;
    // The row labels again, in a rail that sticks to the box's left edge while the map is
    // panned sideways (it is drawn over the map only when the map's own labels are out of view).
    ui.rail = h("div", { class: "row-rail", "aria-hidden": "true" });
    const scroller = h("div", { class: "map-scroll" }, h("div", { class: "map-canvas", onfocusin: onSeatFocus }, ui.rail, svg));
    scroller.addEventListener("scroll", syncRail, { passive: true });
    ui.panHint = h("p", { class: "hint pan-hint", hidden: true });
    parts.push(h("div", { class: "map-tools" },
      single
        ? h("p", { class: "stage-dir" }, h("span", { class: "arrow", "aria-hidden": "true" }, "▲"),
          ` ${st.kind === "movie" ? "Screen" : "Stage"} · row ${seated[0].rows[0]?.label ?? ""} nearest`)
        : null,
      h("div", { class: "zoom", role: "group", "aria-label": "Zoom" },
        h("button", { type: "button", class: "secondary", "aria-label": "Zoom out", onclick: () => zoom(1 / 1.25) }, "−"),
        h("button", { type: "button", class: "secondary", "aria-label": "Zoom in", onclick: () => zoom(1.25) }, "+"),
        h("button", { type: "button", class: "secondary", onclick: () => fit(true) }, "Fit"))));
    parts.push(scroller, ui.panHint);
    ui.scroller = scroller;
  }
  const gas = sections.filter((x) => x.ga);
  for (const section of gas) parts.push(gaForm(section, gas.length > 1));
  replace(ui.view, parts);
  if (st.svg) fit(false);
  for (const section of sections) updateSectionRefs(section);
}

/** The rail's labels (in CSS px at this scale): one per row, at the row's height on the map. */
function drawRail() {
  if (!ui.rail || !st.nav) return;
  const scale = st.scale;
  const height = Math.round(st.natural.height * scale);
  const tall = Math.max(12, SEAT * scale);
  replace(ui.rail, s("svg", { class: "rail-svg", focusable: "false", width: RAIL, height, viewBox: `0 0 ${RAIL} ${height}` },
    s("rect", { class: "rail-back", x: 0, y: 0, width: RAIL, height }),
    st.nav.labels.map(({ label, y }) => {
      const top = y * scale + (SEAT * scale - tall) / 2;
      return s("g", { class: "rail-label" },
        s("rect", { x: 3, y: top, width: RAIL - 6, height: tall, rx: 5 }),
        s("text", { x: RAIL / 2, y: top + tall / 2, "text-anchor": "middle", "dominant-baseline": "central" }, label));
    })));
}

/** Shows the rail when the map's own row labels are scrolled out of view on the left. */
function syncRail() {
  if (!ui.rail || !ui.scroller || !st.nav) return;
  ui.rail.classList.toggle("shown", ui.scroller.scrollLeft > st.nav.labelX * st.scale);
}

function seatSvg(sections) {
  const width = Math.max(320, ...sections.map((x) => x.ga ? 320 : (x.maxColumn + 1) * UNIT + 2 * GUTTER));
  const many = sections.length > 1;
  const stageWidth = Math.min(width * 0.7, 560);
  const svg = s("svg", {
    class: "seatmap", role: "group", "aria-label": `Seat map${many ? "" : `, ${sections[0].name}`}`,
    "aria-describedby": "map-help", onclick: onSeatClick, onkeydown: onSeatKey,
  });
  // (Chromium makes an SVG element with a focus listener a tab stop of its own, so the map's
  // focusin listener is on the HTML box around it: see renderSections.)
  const x1 = (width - stageWidth) / 2;
  const x2 = x1 + stageWidth;
  const showStage = st.view.kind === "all";
  let y = 8;
  if (showStage) {
    const label = st.kind === "movie" ? "Screen" : "Stage";
    svg.append(s("g", { class: "stage", role: "img", "aria-label": `${label} (front)` },
      st.kind === "movie"
        ? s("path", { d: `M${x1} 28 Q${width / 2} 6 ${x2} 28`, class: "screen-line" })
        : s("rect", { x: x1, y: 6, width: stageWidth, height: 26, rx: 6, class: "stage-block" }),
      s("text", { x: width / 2, y: st.kind === "movie" ? 44 : 24, class: "stage-text", "text-anchor": "middle", "aria-hidden": "true" },
        label.toUpperCase())));
    y = 64;
  }
  const nav = { rows: [], where: new Map(), labels: [], labelX: Infinity };
  for (const section of sections) {
    if (many && !section.ga) {
      svg.append(s("text", { x: width / 2, y: y + 12, class: "section-label", "text-anchor": "middle", "aria-hidden": "true" }, section.name));
      y += 26;
    }
    if (section.ga) {
      const w = Math.min(width - 2 * GUTTER, 420);
      const refs = section.refs;
      refs.svgText = s("text", { x: width / 2, y: y + 44, class: "ga-count", "text-anchor": "middle" });
      svg.append(s("g", { class: "ga-area", "aria-hidden": "true", onclick: () => document.getElementById(`qty-${section.index}`)?.focus() },
        s("rect", { x: (width - w) / 2, y, width: w, height: 60, rx: 10 }),
        s("text", { x: width / 2, y: y + 24, class: "ga-name", "text-anchor": "middle" }, section.name),
        refs.svgText));
      y += 84;
      continue;
    }
    const sectionWidth = (section.maxColumn + 1) * UNIT;
    const x0 = (width - sectionWidth) / 2;
    const group = many ? s("g", { role: "group", "aria-label": section.name }) : svg;
    for (const row of section.rows) {
      const rowGroup = s("g", { role: "group", "aria-label": `Row ${row.label}` });
      nav.labels.push({ label: row.label, y });
      nav.labelX = Math.min(nav.labelX, x0 - GUTTER / 2);
      rowGroup.append(
        s("text", { x: x0 - GUTTER / 2, y: y + 14.5, class: "row-label", "text-anchor": "middle", "aria-hidden": "true" }, row.label),
        s("text", { x: x0 + sectionWidth + GUTTER / 2 - 4, y: y + 14.5, class: "row-label", "text-anchor": "middle", "aria-hidden": "true" }, row.label));
      const navRow = { indices: [], xs: [] };
      for (const i of row.indices) {
        const t = st.tickets[i];
        const x = x0 + t.column_index * UNIT;
        const seat = s("g", {
          class: "seat", role: "checkbox", tabindex: "-1", "data-i": i, transform: `translate(${x} ${y})`,
        }, s("rect", { width: SEAT, height: SEAT, rx: 5 }));
        if (t.category === "accessible") seat.append(s("use", { href: "#sym-wheelchair", class: "wc", width: SEAT, height: SEAT }));
        st.els[i] = seat;
        paintSeat(i);
        nav.where.set(i, [nav.rows.length, navRow.indices.length]);
        navRow.indices.push(i);
        navRow.xs.push(x);
        rowGroup.append(seat);
      }
      nav.rows.push(navRow);
      group.append(rowGroup);
      y += UNIT;
    }
    if (many) svg.append(group);
    y += 18;
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${y}`);
  st.natural = { width, height: y };
  st.nav = nav;
  // The map's one tab stop: the first free seat (or the first seat).
  const first = nav.rows.flatMap((r) => r.indices);
  setActive(first.find((i) => st.status[i] === AVAILABLE) ?? first[0] ?? -1);
  return svg;
}

function gaForm(section, named) {
  const refs = section.refs;
  const id = `qty-${section.index}`;
  const price = [...section.categories.values()][0];
  const category = [...section.categories.keys()][0];
  const closed = st.sale !== "open";
  refs.gaText = h("span", { class: "ga-left" });
  refs.input = h("input", {
    id, type: "number", inputmode: "numeric", min: 0, max: quantityMax(section), step: 1,
    value: st.ga?.section === section.index ? st.ga.quantity : 0,
    "aria-describedby": `${id}-hint ${id}-error`, disabled: closed,
    oninput: () => onQuantity(section),
    onkeydown: (event) => {
      // Enter holds, as the button below would.
      if (event.key === "Enter") {
        event.preventDefault();
        onQuantity(section);
        hold();
      }
    },
  });
  const name = named ? ` in ${section.name}` : "";
  refs.fewer = h("button", {
    type: "button", class: "secondary step", "aria-label": `Fewer places${name}`, "aria-controls": id, disabled: closed,
    onclick: () => stepQuantity(section, -1),
  }, h("span", { "aria-hidden": "true" }, "−"));
  refs.more = h("button", {
    type: "button", class: "secondary step", "aria-label": `More places${name}`, "aria-controls": id, disabled: closed,
    onclick: () => stepQuantity(section, 1),
  }, h("span", { "aria-hidden": "true" }, "+"));
  refs.qtyError = h("p", { id: `${id}-error`, class: "field-error", "aria-live": "polite" });
  refs.qtyHint = h("p", { id: `${id}-hint`, class: "hint" });
  if (st.gaError?.section === section.index) showQuantityError(section, st.gaError.text);
  return h("div", { class: "ga-box" },
    h("h3", {}, section.name, " ", h("span", { class: "badge" }, "standing")),
    h("p", {}, h("strong", {}, money(price)), ` each (${categoryName(category)}) · `, refs.gaText),
    h("label", { for: id }, named ? `Quantity — ${section.name}` : "Quantity"),
    h("div", { class: "stepper" }, refs.fewer, refs.input, refs.more),
    refs.qtyError,
    refs.qtyHint);
}

/** The most places of a standing area one booking can take now. */
function quantityMax(section) {
  return Math.max(0, Math.min(st.limits.perHold, section.available));
}

/** What the quantity field holds: {quantity} or {error}. Nothing typed means none. */
function readQuantity(section, input) {
  const raw = input.value.trim();
  const most = quantityMax(section);
  const range = most ? `a whole number from 0 to ${most}` : "0";
  if (input.validity?.badInput) return { error: `“Quantity” takes a number: enter ${range}.` };
  if (raw === "") return { quantity: 0 };
  if (/^-/.test(raw)) return { error: `The quantity cannot be negative: enter ${range}.` };
  if (!/^\d+$/.test(raw)) return { error: `Places come whole: enter ${range}, not ${raw}.` };
  const quantity = Number(raw);
  if (quantity > st.limits.perHold && st.limits.perHold <= section.available) {
    return { error: `One booking can take at most ${count(st.limits.perHold, "ticket", "tickets")}; you entered ${quantity}.` };
  }
  if (quantity > section.available) {
    return { error: section.available
      ? `Only ${count(section.available, "place is", "places are")} left in ${section.name}; you entered ${quantity}.`
      : `${section.name} is sold out.` };
  }
  return { quantity };
}

function showQuantityError(section, text) {
  const refs = section.refs;
  if (!refs.input) return;
  if (text) refs.input.setAttribute("aria-invalid", "true");
  else refs.input.removeAttribute("aria-invalid");
  if (refs.qtyError && refs.qtyError.textContent !== (text || "")) refs.qtyError.textContent = text || "";
}

function stepQuantity(section, delta) {
  const input = section.refs.input;
  const read = readQuantity(section, input);
  const most = quantityMax(section);
  // From a number out of range, the buttons step back into it.
  const typed = Number(input.value);
  const from = read.error ? (Number.isFinite(typed) ? Math.max(0, Math.min(most + 1, Math.floor(typed))) : 0) : read.quantity;
  const next = Math.max(0, Math.min(most, from + delta));
  input.value = next;
  onQuantity(section);
  announce(next ? `${count(next, "place", "places")} in ${section.name}. ${selectionLine()}` : `No places in ${section.name}.`);
}

function onQuantity(section) {
  const read = readQuantity(section, section.refs.input);
  clearHoldError();
  if (read.error) {
    // Never guess what was meant: the number stays as typed, and says what is wrong.
    st.gaError = { section: section.index, text: read.error };
    if (st.ga?.section === section.index) st.ga = null;
    showQuantityError(section, read.error);
    for (const sec of st.sections) if (sec.ga) updateSectionRefs(sec);
    renderSummary();
    return;
  }
  const quantity = read.quantity;
  if (st.gaError?.section === section.index) st.gaError = null;
  showQuantityError(section, null);
  if (quantity > 0) {
    if (st.gaError) {
      // The other area's unusable number gives way to this one.
      const other = st.sections[st.gaError.section];
      if (other.refs.input) other.refs.input.value = 0;
      showQuantityError(other, null);
      st.gaError = null;
    }
    if (st.selected.size) {
      const n = st.selected.size;
      for (const i of [...st.selected]) {
        st.selected.delete(i);
        paintSeat(i);
      }
      notice(`A booking is either numbered seats or standing places, so your ${count(n, "selected seat was", "selected seats were")} removed.`);
    }
    if (st.ga && st.ga.section !== section.index) {
      const other = st.sections[st.ga.section];
      if (other.refs.input) other.refs.input.value = 0;
      notice(`One booking is for one standing area, so your ${other.name} places were removed.`);
    }
    st.ga = { section: section.index, quantity };
  } else if (st.ga?.section === section.index) {
    st.ga = null;
  }
  for (const sec of st.sections) if (sec.ga) updateSectionRefs(sec);
  renderSummary();
}

/** Section counters: overview tile, GA box and GA area of the map. */
function updateSectionRefs(section) {
  const refs = section.refs;
  const total = section.indices.length;
  const left = section.available;
  const text = left === 0 ? "Sold out" : `${left.toLocaleString()} of ${total.toLocaleString()} left`;
  if (refs.avail) refs.avail.textContent = text;
  if (refs.fill) {
    refs.fill.style.width = `${Math.round((left / Math.max(total, 1)) * 100)}%`;
    refs.button.classList.toggle("sold-out", left === 0);
  }
  if (refs.mine) {
    let mine = 0;
    if (section.ga) mine = st.ga?.section === section.index ? st.ga.quantity : 0;
    else for (const i of st.selected) if (st.sectionOf[i] === section.index) mine += 1;
    refs.mine.textContent = mine ? `${mine} chosen` : "";
  }
  if (refs.gaText) refs.gaText.textContent = left === 0 ? "sold out" : `${count(left, "place", "places")} left`;
  if (refs.svgText) refs.svgText.textContent = left === 0 ? "Standing · sold out" : `Standing · ${count(left, "place", "places")} left`;
  if (refs.input) {
    const most = quantityMax(section);
    refs.input.max = most;
    const chosen = st.ga?.section === section.index ? st.ga.quantity : 0;
    if (st.sale === "open") {
      refs.fewer.disabled = chosen <= 0 && st.gaError?.section !== section.index;
      refs.more.disabled = chosen >= most;
    }
    const text = most === 0
      ? "Sold out."
      : `Choose 1 to ${most} (0 for none): up to ${count(st.limits.perHold, "ticket", "tickets")} per booking${most < st.limits.perHold ? `, and ${count(left, "place is", "places are")} left` : ""}. Standing places are not numbered: your tickets are for the area.`;
    if (refs.qtyHint.textContent !== text) refs.qtyHint.textContent = text;
  }
}

// ---------------------------------------------------------------------------------------------
// Seats: painting, selection, keyboard

function paintSeat(i) {
  const el = st.els[i];
  if (!el) return;
  const status = st.status[i];
  const chosen = st.selected.has(i);
  const t = st.tickets[i];
  const mine = status === HELD && st.mine.has(i);
  el.setAttribute("class", `seat ${catClass(t.category)}${status === HELD ? " is-held" : ""}${mine ? " is-mine" : ""}${status === SOLD ? " is-sold" : ""}${chosen ? " is-selected" : ""}`);
  el.setAttribute("aria-checked", chosen ? "true" : "false");
  if (status === AVAILABLE) el.removeAttribute("aria-disabled");
  else el.setAttribute("aria-disabled", "true");
  el.setAttribute("aria-label", seatAria(i));
  const mark = chosen ? "#sym-check" : status === SOLD ? "#sym-cross" : status === HELD ? "#sym-held" : null;
  let use = el.querySelector("use.mark");
  if (!mark) {
    use?.remove();
  } else if (use) {
    use.setAttribute("href", mark);
  } else {
    use = s("use", { href: mark, class: "mark", width: SEAT, height: SEAT });
    el.append(use);
  }
}

function seatIndexOf(target) {
  const seat = target instanceof Element ? target.closest(".seat") : null;
  return seat ? Number(seat.dataset.i) : -1;
}

function onSeatClick(event) {
  const i = seatIndexOf(event.target);
  if (i < 0) return;
  setActive(i);
  toggle(i);
}

function onSeatFocus(event) {
  const i = seatIndexOf(event.target);
  if (i >= 0) setActive(i);
}

function setActive(i) {
  if (st.active === i && st.els[i]?.getAttribute("tabindex") === "0") return;
  const old = st.els[st.active];
  if (old) old.setAttribute("tabindex", "-1");
  st.active = i;
  const el = st.els[i];
  if (el) el.setAttribute("tabindex", "0");
}

function focusSeat(i) {
  const el = st.els[i];
  if (!el) return;
  setActive(i);
  el.focus({ preventScroll: true });
  el.scrollIntoView({ block: "nearest", inline: "nearest" });
}

function onSeatKey(event) {
  const i = seatIndexOf(event.target);
  if (i < 0 || !st.nav) return;
  const [r, p] = st.nav.where.get(i) || [0, 0];
  const rows = st.nav.rows;
  const nearest = (rowIndex) => {
    const row = rows[Math.max(0, Math.min(rows.length - 1, rowIndex))];
    const x = rows[r].xs[p];
    let best = 0;
    for (let k = 1; k < row.xs.length; k++) if (Math.abs(row.xs[k] - x) < Math.abs(row.xs[best] - x)) best = k;
    return row.indices[best];
  };
  let target = null;
  switch (event.key) {
    case "ArrowRight": target = rows[r].indices[Math.min(p + 1, rows[r].indices.length - 1)]; break;
    case "ArrowLeft": target = rows[r].indices[Math.max(p - 1, 0)]; break;
    case "ArrowDown": target = nearest(r + 1); break;
    case "ArrowUp": target = nearest(r - 1); break;
    case "PageDown": target = nearest(r + 5); break;
    case "PageUp": target = nearest(r - 5); break;
    case "Home": target = event.ctrlKey ? rows[0].indices[0] : rows[r].indices[0]; break;
    case "End": {
      const row = event.ctrlKey ? rows[rows.length - 1] : rows[r];
      target = row.indices[row.indices.length - 1];
      break;
    }
    case " ":
    case "Enter":
      event.preventDefault();
      toggle(i);
      return;
    default:
      return;
  }
  event.preventDefault();
  if (target !== null && target !== undefined) focusSeat(target);
}

function toggle(i) {
  if (st.sale !== "open") {
    announce(st.sale === "soon" ? "Tickets are not on sale yet." : "Tickets for this showtime are not on sale.");
    return;
  }
  if (st.status[i] !== AVAILABLE) {
    announce(st.mine.has(i) && st.status[i] === HELD
      ? `You already hold ${seatName(i)}: continue to checkout or release your held seats at the top of the page.`
      : `${seatName(i)} is ${STATUS_WORD[st.status[i]]} and cannot be selected.`);
    return;
  }
  clearHoldError();
  if (st.selected.has(i)) {
    st.selected.delete(i);
  } else {
    if (st.selected.size >= st.limits.perHold) {
      notice(`One booking can take at most ${count(st.limits.perHold, "ticket", "tickets")}, so ${seatName(i)} was not added. Remove a seat to choose another.`);
      return;
    }
    if (st.gaError) {
      const section = st.sections[st.gaError.section];
      st.gaError = null;
      if (section.refs.input) section.refs.input.value = 0;
      showQuantityError(section, null);
      updateSectionRefs(section);
    }
    if (st.ga) {
      const section = st.sections[st.ga.section];
      st.ga = null;
      if (section.refs.input) section.refs.input.value = 0;
      notice(`A booking is either numbered seats or standing places, so your ${section.name} places were removed.`);
      updateSectionRefs(section);
    }
    st.selected.add(i);
  }
  paintSeat(i);
  updateSectionRefs(st.sections[st.sectionOf[i]]);
  renderSummary();
  const chosen = st.selected.has(i);
  announce(`${seatName(i)} ${chosen ? "selected" : "removed"}. ${selectionLine()}`);
}

function selectionLine() {
  const { n, total } = selectionTotal();
  if (!n) return "No seats selected.";
  return `${count(n, "ticket", "tickets")}, ${money(total)} in total.`;
}

function selectionTotal() {
  let amount = 0;
  let currency = st.showtime.prices?.[0]?.price.currency || "EUR";
  let n = 0;
  for (const i of st.selected) {
    amount += st.tickets[i].price.amount;
    currency = st.tickets[i].price.currency;
    n += 1;
  }
  if (st.ga) {
    const price = [...st.sections[st.ga.section].categories.values()][0];
    amount += price.amount * st.ga.quantity;
    currency = price.currency;
    n += st.ga.quantity;
  }
  return { n, total: { amount, currency } };
}

/** Zooms around the middle of what the box shows (or keeps the focused seat in view). */
function zoom(factor) {
  const box = ui.scroller;
  if (!box) return;
  const cx = (box.scrollLeft + box.clientWidth / 2) / Math.max(box.scrollWidth, 1);
  const cy = (box.scrollTop + box.clientHeight / 2) / Math.max(box.scrollHeight, 1);
  setScale(st.scale * factor);
  box.scrollLeft = cx * box.scrollWidth - box.clientWidth / 2;
  box.scrollTop = cy * box.scrollHeight - box.clientHeight / 2;
  const seat = st.els[st.active];
  if (seat && document.activeElement === seat) seat.scrollIntoView({ block: "nearest", inline: "nearest" });
  syncRail();
}

/** A screen to be used with fingers: no fine pointer, or a phone-sized window. */
function touchScreen() {
  return matchMedia("(pointer: coarse)").matches || innerWidth < 600;
}

/**
 * Fits the map to its box. Pressed (user = true): the whole width, however small the seats.
 * On opening: as big as fits the box both ways (so the box is no taller than the map), but
 * never smaller than seats a finger can hit on a touch screen (24 px) or a mouse (14 px);
 * a bigger map pans inside the box.
 */
function fit(user) {
  const box = ui.scroller;
  if (!st.svg || !box) return;
  const padding = 16;
  const width = (box.clientWidth || 320) - padding - 2;
  const widthScale = width / st.natural.width;
  if (user) {
    setScale(Math.min(widthScale, 3));
  } else {
    const most = Number.parseFloat(getComputedStyle(box).maxHeight);
    const heightScale = Number.isFinite(most) ? (most - padding - 2) / st.natural.height : widthScale;
    const least = touchScreen() ? TOUCH_SCALE : DESK_SCALE;
    setScale(Math.max(least, Math.min(1.5, widthScale, heightScale)));
  }
  // Wider than the box: start in the middle, where the screen or stage is; at the top, where
  // the front rows are.
  box.scrollLeft = (box.scrollWidth - box.clientWidth) / 2;
  box.scrollTop = 0;
  syncRail();
}

function setScale(scale) {
  st.scale = Math.max(0.3, Math.min(3, scale));
  const width = Math.round(st.natural.width * st.scale);
  const height = Math.round(st.natural.height * st.scale);
  st.svg.style.width = `${width}px`;
  st.svg.style.height = `${height}px`;
  drawRail();
  if (ui.panHint && ui.scroller) {
    const wider = width > ui.scroller.clientWidth - 16;
    ui.panHint.hidden = !wider;
    ui.panHint.textContent = touchScreen()
      ? "Swipe inside the map to see more seats; Fit shows them all at once (smaller)."
      : "Scroll inside the map to see more seats, or press Fit to see them all at once.";
  }
}

// ---------------------------------------------------------------------------------------------
// Selection summary and the hold

function renderSummary() {
  const items = [];
  const seats = [...st.selected].sort((a, b) => a - b);
  for (const i of seats) {
    const t = st.tickets[i];
    items.push(h("li", {},
      h("span", { class: "sel-seat" }, seatName(i)),
      h("span", { class: "sel-cat muted" }, categoryName(t.category)),
      h("span", { class: "sel-price" }, money(t.price)),
      h("button", {
        type: "button", class: "link remove", "aria-label": `Remove ${seatName(i)}`,
        onclick: () => {
          st.selected.delete(i);
          paintSeat(i);
          updateSectionRefs(st.sections[st.sectionOf[i]]);
          renderSummary();
          announce(`${seatName(i)} removed. ${selectionLine()}`);
          (ui.summaryBody.querySelector("button.remove") || ui.holdButton).focus();
        },
      }, "Remove")));
  }
  if (st.ga) {
    const section = st.sections[st.ga.section];
    const price = [...section.categories.values()][0];
    items.push(h("li", {},
      h("span", { class: "sel-seat" }, `${st.ga.quantity} × ${section.name}`),
      h("span", { class: "sel-cat muted" }, "standing"),
      h("span", { class: "sel-price" }, money({ amount: price.amount * st.ga.quantity, currency: price.currency }))));
  }
  const { n, total } = selectionTotal();
  const invalid = st.gaError ? st.sections[st.gaError.section] : null;
  ui.summary?.classList.toggle("has-selection", n > 0 || !!invalid);
  if (!n && !invalid && st.expanded) setExpanded(false);
  if (!n) {
    replace(ui.summaryBody, invalid
      ? h("p", { class: "empty" }, `The quantity for ${invalid.name} is not one we can book: `,
        h("button", { type: "button", class: "link", onclick: () => invalid.refs.input?.focus() }, "correct it"), ".")
      : h("p", { class: "muted empty" }, "No seats selected yet. Pick them on the map."));
  } else {
    replace(ui.summaryBody,
      h("ul", { class: "selection", "aria-label": "Selected tickets" }, items),
      h("p", { class: "total" }, h("span", {}, `Total (${count(n, "ticket", "tickets")})`), h("strong", {}, money(total))));
  }
  // The phone's one line: "2 seats · €148.00".
  ui.sheetLine.textContent = n
    ? `${count(n, st.ga ? "place" : "seat", st.ga ? "places" : "seats")} · ${money(total)}`
    : invalid ? "Check the quantity" : "Nothing selected";
  let hint = `Seats are held for you for ${st.limits.holdSeconds ? `${Math.round(st.limits.holdSeconds / 60)} minutes` : "a few minutes"} while you pay.`;
  if (st.sale !== "open") hint = "Tickets for this showtime are not on sale right now.";
  else if (st.queue && st.queue.me?.status !== "admitted") hint = "You can hold seats when it is your turn in the waiting room.";
  else if (!st.user) hint = "You will be asked to log in; your selection is kept.";
  ui.holdHint.textContent = hint;
  ui.holdButton.disabled = st.holding || st.sale !== "open";
}

/** Shows or hides the details of the phone's selection sheet. */
function setExpanded(open) {
  st.expanded = open;
  ui.summary.classList.toggle("expanded", open);
  ui.sheetToggle.setAttribute("aria-expanded", String(open));
}

function notice(text) {
  const box = h("div", { class: "notice warn seat-notice" },
    h("span", {}, text),
    h("button", { type: "button", class: "link dismiss", "aria-label": "Dismiss message", onclick: () => box.remove() }, "×"));
  ui.notices.prepend(box);
  while (ui.notices.children.length > 3) ui.notices.lastElementChild.remove();
  announce(text);
}

function clearHoldError() {
  replace(ui.holdError);
}

function holdError(text, kind = "error") {
  replace(ui.holdError, h("div", { class: `notice ${kind}`, role: "alert" }, text));
}

function saveSelection() {
  const data = {
    ticket_ids: [...st.selected].map((i) => st.tickets[i].id),
    ga: st.ga ? { section_id: st.sections[st.ga.section].id, quantity: st.ga.quantity } : null,
  };
  try {
    sessionStorage.setItem(STORE.selection, JSON.stringify(data));
  } catch {
    // private mode: the selection is simply not kept
  }
}

/**
 * The selection saved before logging in, or by checkout's "Change seats" (which released its
 * hold just before: `released_ids` are the tickets it freed, still shown held by a seat map
 * cached a moment earlier; the live stream corrects them if someone else took them since).
 */
function restoreSelection() {
  let data;
  try {
    data = JSON.parse(sessionStorage.getItem(STORE.selection) || "null");
    sessionStorage.removeItem(STORE.selection);
  } catch {
    return;
  }
  if (!data || st.sale !== "open") return;
  const released = data.released_ids || [];
  for (const id of released) {
    const i = st.idIndex.get(id);
    if (i !== undefined && st.status[i] === HELD) setStatus(i, AVAILABLE);
  }
  for (const section of dirtySections) updateSectionRefs(section);
  dirtySections.clear();
  const lost = [];
  for (const id of data.ticket_ids || []) {
    const i = st.idIndex.get(id);
    if (i === undefined) continue;
    if (st.status[i] === AVAILABLE && st.selected.size < st.limits.perHold) st.selected.add(i);
    else lost.push(i);
  }
  let fewer = null;
  if (data.ga) {
    const section = st.sections.find((x) => x.id === data.ga.section_id);
    if (section) {
      const quantity = Math.min(data.ga.quantity, quantityMax(section));
      if (quantity < data.ga.quantity) fewer = { section, from: data.ga.quantity, to: quantity };
      if (quantity > 0) st.ga = { section: section.index, quantity };
    }
  }
  const kept = st.selected.size + (st.ga ? 1 : 0);
  for (const i of [...st.selected, ...lost]) paintSeat(i);
  if (st.view.kind === "overview" && st.selected.size) {
    // Show the section of the first kept seat, so the choice is in view.
    showView({ kind: "section", section: st.sectionOf[[...st.selected][0]] });
  } else if (st.view.kind === "overview" && st.ga) {
    showView({ kind: "section", section: st.ga.section });
  } else {
    for (const section of st.sections) {
      if (section.refs.input && st.ga?.section === section.index) section.refs.input.value = st.ga.quantity;
      updateSectionRefs(section);
    }
  }
  renderSummary();
  if (lost.length) {
    notice(`While you were away, ${lost.map(seatName).join(", ")} ${lost.length === 1 ? "was" : "were"} taken, so we removed ${lost.length === 1 ? "it" : "them"} from your selection.`);
  }
  if (fewer) {
    notice(fewer.to
      ? `Only ${count(fewer.to, "place is", "places are")} left in ${fewer.section.name}, so your selection has ${fewer.to} instead of ${fewer.from}.`
      : `${fewer.section.name} sold out while you were away, so your ${fewer.from} places there were removed.`);
  }
  if (kept) {
    replace(ui.flash, h("div", { class: "notice info", role: "status" }, released.length
      ? ["Your seats were released so that you can change them; they are selected again below. Change them, then press ",
        h("strong", {}, "Hold seats"), "."]
      : ["Your selection is still here. Press ", h("strong", {}, "Hold seats"), " to continue."]));
  }
}

function showFlash() {
  let text = null;
  try {
    text = sessionStorage.getItem(STORE.flash);
    sessionStorage.removeItem(STORE.flash);
  } catch {
    return;
  }
  if (text) {
    ui.flash.append(h("div", { class: "notice ok", role: "status" }, text));
  }
}

// ---------------------------------------------------------------------------------------------
// This browser's own holds of the showtime

/** The holds this browser made for the showtime and still knows about: [{id, expires_at}]. */
function knownHolds() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE.hold) || "null");
    return (Array.isArray(saved) ? saved : saved ? [saved] : []).filter((x) => x && typeof x.id === "string");
  } catch {
    return [];
  }
}

function saveHolds(list) {
  try {
    if (list.length) sessionStorage.setItem(STORE.hold, JSON.stringify(list.map(({ id, expires_at }) => ({ id, expires_at }))));
    else sessionStorage.removeItem(STORE.hold);
  } catch {
    // private mode: not remembered
  }
}

/** Coming back from checkout: the seats this browser holds, with the ways on (pay) and out (release). */
async function showOwnHolds() {
  const known = knownHolds().filter((x) => Date.parse(x.expires_at) > now());
  saveHolds(known);
  if (!known.length || !st.user) return;
  const found = await Promise.all(known.map((x) =>
    api(`/api/v1/holds/${encodeURIComponent(x.id)}`).then(
      (hold) => ({ x, hold }),
      (error) => ({ x, gone: error instanceof ApiError && error.status < 500 })),
  ));
  // Forget the holds that ended (paid, released, expired) or are not this account's.
  saveHolds(found.filter(({ hold, gone }) => !gone && (!hold || hold.status === "active")).map(({ x }) => x));
  setOwnHolds(found.map(({ hold }) => hold).filter((hold) => hold?.status === "active"));
}

/** Marks the seats of this browser's active holds as "held by you", and says what they are. */
function setOwnHolds(holds) {
  st.ownHolds = holds.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  const before = [...st.mine];
  st.mine = new Set();
  for (const hold of st.ownHolds) {
    for (const ticket of hold.tickets) {
      const i = st.idIndex.get(ticket.id);
      if (i !== undefined) st.mine.add(i);
    }
  }
  for (const i of new Set([...before, ...st.mine])) paintSeat(i);
  if (ui.mineLegend) ui.mineLegend.hidden = !st.mine.size;
  renderOwnHolds();
}

/** A time the device's own clock shows for an instant of the server's clock. */
function localTime(iso) {
  return timeOfDay(new Date(Date.parse(iso) - st.skew).toISOString());
}

function renderOwnHolds() {
  const holds = st.ownHolds;
  if (!holds.length) {
    replace(ui.own);
    return;
  }
  const lines = holds.map((hold) => {
    const names = holdSummary(hold.tickets);
    return h("li", {},
      h("span", {}, `${names} — held until ${localTime(hold.expires_at)}. `),
      h("a", { href: `/checkout/${encodeURIComponent(hold.id)}` }, "Continue to checkout",
        holds.length > 1 ? h("span", { class: "visually-hidden" }, ` (${names})`) : null));
  });
  ui.releaseOwn = h("button", { type: "button", class: "secondary", onclick: releaseOwnHolds },
    holds.length > 1 ? "Release all these seats" : "Release seats");
  replace(ui.own, h("div", { class: "notice info own-hold", role: "region", "aria-label": "Seats you hold" },
    h("div", {},
      h("p", { class: "own-title" }, h("strong", {}, holds.length > 1 ? `You are holding seats in ${holds.length} bookings` : "You are holding seats")),
      h("ul", { class: "own-list" }, lines),
      h("p", { class: "hint" }, "Times are your device's. Seats you hold count towards the limit of this showtime; release them to pick others.")),
    ui.releaseOwn));
}

/** What a hold holds: "Stalls C3, Stalls C4" or "2 × Floor (standing)". */
function holdSummary(tickets) {
  const seats = tickets.filter((t) => t.row !== null).map((t) => t.label);
  const areas = new Map();
  for (const t of tickets) if (t.row === null) areas.set(t.section, (areas.get(t.section) || 0) + 1);
  return [...seats, ...[...areas].map(([name, n]) => `${n} × ${name} (standing)`)].join(", ");
}

/** Releases every hold of this showtime this browser knows about. */
async function releaseOwnHolds() {
  const button = ui.releaseOwn;
  button.disabled = true;
  button.textContent = "Releasing…";
  const failed = [];
  for (const hold of st.ownHolds) {
    try {
      await api(`/api/v1/holds/${encodeURIComponent(hold.id)}`, { method: "DELETE" });
    } catch (error) {
      // Already over (paid, expired or released): nothing left to release.
      if (!(error instanceof ApiError && [404, 409, 410].includes(error.status))) failed.push({ hold, error });
    }
  }
  saveHolds(failed.map(({ hold }) => hold));
  setOwnHolds(failed.map(({ hold }) => hold));
  if (failed.length) {
    replace(ui.own, h("div", { class: "notice error", role: "alert" },
      `Some of your seats could not be released: ${failed[0].error.message} `,
      h("button", { type: "button", class: "link", onclick: () => location.reload() }, "Reload the page"), " to try again."));
    return;
  }
  replace(ui.flash, h("div", { class: "notice ok", role: "status" }, "Your held seats were released. Pick new ones whenever you like."));
  announce("Your held seats were released.");
  ui.holdButton.focus();
}

async function hold() {
  if (st.holding) return;
  clearHoldError();
  if (st.sale !== "open") {
    holdError("Tickets for this showtime are not on sale right now.");
    return;
  }
  if (st.gaError) {
    const section = st.sections[st.gaError.section];
    holdError(`Check the quantity for ${section.name} first: ${st.gaError.text}`);
    section.refs.input?.focus();
    return;
  }
  const seats = [...st.selected].sort((a, b) => a - b);
  const ga = st.ga && st.ga.quantity > 0 ? st.ga : null;
  if (!seats.length && !ga) {
    holdError("Pick at least one seat first: click or tap a seat on the map, or Tab to the map and use the arrow keys and Space.");
    return;
  }
  if (!st.user) {
    saveSelection();
    location.assign(`/login?next=${encodeURIComponent(here)}`);
    return;
  }
  if (st.queue && st.queue.me?.status !== "admitted") {
    holdError(st.queue.me?.status === "expired"
      ? "Your turn in the waiting room has ended. Join the queue again to hold seats."
      : "It is not your turn yet. Keep this page open: you can hold your seats as soon as the waiting room lets you in.", "warn");
    return;
  }
  const body = seats.length
    ? { showtime_id: showtimeId, ticket_ids: seats.map((i) => st.tickets[i].id) }
    : { showtime_id: showtimeId, section: st.sections[ga.section].id, quantity: ga.quantity };
  const signature = JSON.stringify(body);
  if (st.holdKey?.signature !== signature) st.holdKey = { signature, key: newKey() };
  st.holding = true;
  st.pending = new Set(seats);
  ui.holdButton.disabled = true;
  ui.holdButton.setAttribute("aria-busy", "true");
  ui.holdButton.textContent = "Holding…";
  let done = false;
  try {
    const out = await postHold(body, st.holdKey.key);
    done = true;
    st.holdKey = null;
    try {
      sessionStorage.removeItem(STORE.selection);
    } catch {
      // ignore
    }
    saveHolds([...knownHolds().filter((x) => x.id !== out.id), { id: out.id, expires_at: out.expires_at }]);
    announce("Your seats are held. Opening checkout.");
    location.assign(`/checkout/${encodeURIComponent(out.id)}`);
  } catch (error) {
    // A definite answer: the next attempt is a new request. A lost connection keeps the key,
    // so pressing again cannot make a second hold; so does a first request with this key that
    // is still running (idempotency_in_progress): pressing again gets its answer.
    if (error instanceof ApiError && error.status < 500 && error.code !== "idempotency_in_progress") st.holdKey = null;
    onHoldError(error);
  } finally {
    if (!done) {
      st.holding = false;
      st.pending = null;
      ui.holdButton.removeAttribute("aria-busy");
      ui.holdButton.textContent = "Hold seats";
      renderSummary();
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * POST /holds, with the waiting room's admission token when there is one. While the first
 * request with this key is still running (e.g. one whose answer was lost), the same key is
 * sent again a moment later, which then gets that request's answer.
 */
async function postHold(body, key) {
  for (let attempt = 1; ; attempt++) {
    const token = st.queue?.me?.admission_token;
    try {
      return await api("/api/v1/holds", {
        method: "POST",
        body,
        idempotencyKey: key,
        headers: token ? { "X-Admission-Token": token } : undefined,
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === "idempotency_in_progress" && attempt < 8) {
        await sleep(1500);
        continue;
      }
      if (error instanceof ApiError) throw error;
      throw new Error("The server could not be reached. Check your connection and press Hold seats again.");
    }
  }
}

function onHoldError(error) {
  if (!(error instanceof ApiError)) {
    holdError(`${error.message} Your seats are not held yet.`);
    return;
  }
  const problem = error.problem || {};
  switch (error.code) {
    case "tickets_unavailable": {
      const taken = (problem.ticket_ids || []).map((id) => st.idIndex.get(id)).filter((i) => i !== undefined);
      for (const i of taken) {
        if (st.status[i] === AVAILABLE) setStatus(i, HELD);
        st.selected.delete(i);
        paintSeat(i);
      }
      for (const section of st.sections) updateSectionRefs(section);
      renderSummary();
      const names = taken.map(seatName).join(", ") || "Some of your seats";
      const rest = st.selected.size
        ? " Your other seats are still selected: press Hold seats again to hold them, or pick replacements."
        : " Please pick other seats.";
      holdError(`Someone was faster: ${names} ${taken.length === 1 ? "was" : "were"} just taken, so we removed ${taken.length === 1 ? "it" : "them"} from your selection.${rest}`, "warn");
      break;
    }
    case "hold_limit":
      holdError(`You can hold at most ${problem.limit ?? st.limits.perShowtime ?? "a limited number of"} tickets of this showtime at a time, counting seats you already hold in another booking. Choose fewer seats, or pay for or release your other booking first${st.ownHolds.length ? " (at the top of the page)" : ""}.`);
      break;
    case "not_enough_places": {
      const section = st.ga ? st.sections[st.ga.section] : null;
      holdError(`Only ${count(problem.available ?? 0, "place is", "places are")} left${section ? ` in ${section.name}` : ""}; you asked for ${problem.requested}. Lower the quantity and try again.`, "warn");
      break;
    }
    case "not_on_sale":
      holdError("Tickets for this showtime are not on sale right now (sales may not have started, or have closed).");
      break;
    case "admission_required":
      if (!st.queue) {
        st.queue = { room: null, me: null };
        enterQueue();
      } else {
        refreshPlace();
      }
      holdError("This showtime sells through a waiting room: please wait for your turn, then hold your seats.", "warn");
      break;
    case "unauthenticated":
      saveSelection();
      location.assign(`/login?next=${encodeURIComponent(here)}`);
      break;
    case "invalid_request": {
      const most = /at most (\d+)/.exec(error.message);
      const chosen = st.selected.size || st.ga?.quantity || 0;
      holdError(most
        ? `One booking can take at most ${most[1]} tickets; you chose ${chosen}. Remove some and press Hold seats again.`
        : `Your seats could not be held: ${error.message}`);
      break;
    }
    case "too_many_requests":
      holdError(`Too many requests right now. Please wait ${problem.retry_after ?? "a few"} seconds and try again.`);
      break;
    case "idempotency_in_progress":
      holdError("Your request to hold these seats is still being processed. Press Hold seats again in a moment: it is safe, they will not be held twice.", "warn");
      break;
    default:
      holdError(`Your seats could not be held: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Live updates

function setLive(state) {
  const text = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    polling: "Updating every few seconds",
  }[state];
  ui.live.dataset.state = state;
  ui.live.textContent = text;
  ui.live.title = state === "live" ? "Seats update as other people book them." : "";
}

function connect() {
  const stream = new EventSource(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/stream`);
  st.stream = stream;
  stream.addEventListener("open", () => {
    setLive("live");
    // A poll still under way would answer with what the stream is about to send, or older.
    stopPolling();
  });
  stream.addEventListener("snapshot", (event) => {
    applySnapshot(parse(event.data), eventId(event));
  });
  stream.addEventListener("inventory", (event) => {
    const change = parse(event.data);
    if (change) applyChange(change, eventId(event));
  });
  stream.addEventListener("queue", (event) => {
    const room = parse(event.data);
    if (room) onQueueEvent(room);
  });
  stream.addEventListener("error", () => {
    if (stream.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. too many open): poll, and try the stream later.
      setLive("polling");
      startPolling();
      setTimeout(() => {
        if (st.stream === stream) connect();
      }, 30_000);
    } else {
      setLive("reconnecting");
    }
  });
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The id of a stream event (the inventory version it brings), or null. */
function eventId(event) {
  const id = Number.parseInt(event.lastEventId, 10);
  return Number.isFinite(id) ? id : null;
}

function startPolling() {
  if (st.poll) return;
  st.poll = setInterval(async () => {
    if (st.queue?.me && ["lobby", "waiting"].includes(st.queue.me.status)) refreshPlace();
    if (st.pollAbort) return; // the last poll has not answered yet
    const controller = new AbortController();
    st.pollAbort = controller;
    try {
      const view = await api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/availability`, {
        signal: controller.signal,
      });
      if (!controller.signal.aborted) applySnapshot(view);
    } catch {
      // aborted, or try again at the next tick
    } finally {
      if (st.pollAbort === controller) st.pollAbort = null;
    }
  }, 5000);
}

function stopPolling() {
  if (st.poll) clearInterval(st.poll);
  st.poll = null;
  st.pollAbort?.abort();
  st.pollAbort = null;
}

const lostSeats = [];
const dirtySections = new Set();

function setStatus(i, code) {
  const old = st.status[i];
  if (old === code) return;
  st.status[i] = code;
  const section = st.sections[st.sectionOf[i]];
  if (old === AVAILABLE) section.available -= 1;
  if (code === AVAILABLE) section.available += 1;
  dirtySections.add(section);
  if (code !== AVAILABLE && st.selected.has(i) && !st.pending?.has(i)) {
    st.selected.delete(i);
    lostSeats.push(i);
  }
  paintSeat(i);
}

/** Applies a snapshot of every seat's status, unless the map already shows a newer one. */
function applySnapshot(view, id = null) {
  if (!view || typeof view.statuses !== "string") return;
  const version = Number.isFinite(view.version) ? view.version : id;
  if (version !== null && version < st.version) return;
  if (view.statuses.length !== st.tickets.length) {
    // The hall's layout changed under us: the map is out of date.
    if (!ui.stale) {
      ui.stale = h("div", { class: "notice warn", role: "alert" }, "The seat map of this showtime has changed. ",
        h("button", { type: "button", class: "link", onclick: () => location.reload() }, "Reload the page"),
        " to see the current seats.");
      ui.flash.append(ui.stale);
    }
    return;
  }
  for (let i = 0; i < view.statuses.length; i++) setStatus(i, CODES[view.statuses[i]] ?? SOLD);
  if (version !== null) st.version = Math.max(st.version, version);
  flushChanges();
}

/** Applies one change, unless the map already reflects it (a snapshot at or after its id). */
function applyChange(change, version = null) {
  const code = CODES[change.status];
  if (code === undefined) return;
  if (version !== null) {
    if (version <= st.version) return;
    st.version = version;
  }
  for (const id of change.ticket_ids || []) {
    const i = st.idIndex.get(id);
    if (i !== undefined) setStatus(i, code);
  }
  flushChanges();
}

function flushChanges() {
  for (const section of dirtySections) updateSectionRefs(section);
  dirtySections.clear();
  if (st.ga && !st.holding) {
    const section = st.sections[st.ga.section];
    if (st.ga.quantity > section.available) {
      st.ga.quantity = section.available;
      if (section.refs.input) section.refs.input.value = section.available;
      notice(section.available
        ? `Only ${count(section.available, "place is", "places are")} left in ${section.name}; we lowered your quantity.`
        : `${section.name} just sold out, so we removed it from your selection.`);
      if (!st.ga.quantity) st.ga = null;
      renderSummary();
    }
  }
  if (lostSeats.length) {
    const lost = lostSeats.splice(0);
    renderSummary();
    const names = lost.map(seatName).join(", ");
    notice(`${names} ${lost.length === 1 ? "was" : "were"} just taken by someone else, so we removed ${lost.length === 1 ? "it" : "them"} from your selection.`);
  }
}

// ---------------------------------------------------------------------------------------------
// The waiting room

function onQueueEvent(room) {
  const first = !st.queue;
  st.queue ??= { room: null, me: null };
  st.queue.room = room;
  if (first) {
    enterQueue();
    return;
  }
  const me = st.queue.me;
  if (me?.status === "waiting" && me.place && room.admitted >= me.place) refreshPlace();
  else if (me?.status === "lobby" && now() >= Date.parse(room.opens_at)) refreshSoon();
  renderQueue();
}

async function enterQueue() {
  ui.queue.hidden = false;
  renderQueue();
  renderSummary();
  if (!st.user) return;
  const saved = readAdmission();
  if (saved && Date.parse(saved.admission_expires_at) <= now()) {
    st.queue.me = { status: "expired" };
    renderQueue();
    renderSummary();
    return;
  }
  await joinQueue();
  // A polite fallback beside the stream's queue events: one, however often the page enters
  // queue mode.
  if (st.queueTimer) clearInterval(st.queueTimer);
  st.queueTimer = setInterval(() => {
    if (st.queue?.me && ["lobby", "waiting"].includes(st.queue.me.status)) refreshPlace();
  }, 15_000);
}

async function joinQueue() {
  try {
    setMe(await api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/queue`, { method: "POST" }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      leaveQueueMode();
      return;
    }
    st.queue.error = error;
    renderQueue();
  }
}

let refreshing = false;
async function refreshPlace() {
  if (refreshing || !st.user) return;
  refreshing = true;
  try {
    setMe(await api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/queue`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) await joinQueue();
  } finally {
    refreshing = false;
  }
}

let soon = null;
function refreshSoon() {
  // Everyone in the lobby looks at the opening: spread the requests over two seconds.
  if (soon) return;
  soon = setTimeout(() => {
    soon = null;
    refreshPlace();
  }, Math.random() * 2000);
}

function setMe(me) {
  const before = st.queue.me?.status;
  st.queue.me = me;
  st.queue.error = null;
  if (me.status === "admitted") {
    saveAdmission(me);
    if (before !== "admitted") {
      announce(`It's your turn! You can hold seats until ${localTime(me.admission_expires_at)}.`);
      st.queue.warned = false;
    }
  }
  renderQueue();
  renderSummary();
}

function leaveQueueMode() {
  if (st.queueTimer) clearInterval(st.queueTimer);
  st.queueTimer = null;
  st.queue = null;
  ui.queue.hidden = true;
  replace(ui.queue);
  renderSummary();
}

async function leaveQueue() {
  try {
    await api(`/api/v1/showtimes/${encodeURIComponent(showtimeId)}/queue`, { method: "DELETE" });
    st.queue.me = { status: "left" };
    renderQueue();
    renderSummary();
    announce("You left the queue.");
  } catch (error) {
    st.queue.error = error;
    renderQueue();
  }
}

function saveAdmission(me) {
  try {
    sessionStorage.setItem(STORE.admission, JSON.stringify({ admission_expires_at: me.admission_expires_at }));
  } catch {
    // ignore
  }
}

function readAdmission() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE.admission) || "null");
  } catch {
    return null;
  }
}

function clock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

function waitText(ahead, perMinute) {
  const minutes = (ahead + 1) / Math.max(perMinute, 1);
  if (minutes < 1) return "less than a minute";
  if (minutes < 1.5) return "about a minute";
  if (minutes < 90) return `about ${Math.round(minutes)} minutes`;
  return `about ${Math.round(minutes / 60)} hours`;
}

function renderQueue() {
  const q = st.queue;
  if (!q) return;
  const tz = st.showtime.venue?.time_zone;
  const room = { ...(q.me || {}), ...(q.room || {}) };
  const parts = [h("h2", { id: "queue-title" }, "Waiting room")];
  const why = h("p", { class: "hint" },
    "This showtime sells through a waiting room: buyers are let in a few at a time, in order, so that everyone gets a fair chance and the sale stays fast.");
  const me = q.me;
  const leave = h("button", { type: "button", class: "link", onclick: leaveQueue }, "Leave the queue");
  ui.queue.dataset.state = !st.user ? "signed-out" : me?.status || "joining";
  if (!st.user) {
    parts.push(h("p", { class: "queue-lead" }, "Log in to take your place in line."), why,
      h("p", {}, h("a", { class: "button", href: `/login?next=${encodeURIComponent(here)}` }, "Log in to join the queue")));
  } else if (q.error) {
    parts.push(h("div", { class: "notice error", role: "alert" }, `Your place in line could not be checked: ${q.error.message}`),
      h("button", { type: "button", onclick: () => joinQueue() }, "Try again"));
  } else if (!me) {
    parts.push(h("p", { class: "queue-lead" }, "Taking your place in line…"), why);
  } else if (me.status === "lobby") {
    const opens = room.opens_at;
    ui.queueClock = h("strong", { class: "queue-clock" }, clock(Date.parse(opens) - now()));
    parts.push(
      h("p", { class: "queue-lead" }, "You're in the waiting room."),
      h("p", {}, "The sale opens at ", h("strong", {}, dateTime(opens, tz)), " — in ", ui.queueClock, "."),
      h("p", {}, "Everyone who arrives before the opening gets a place in line drawn at random, so there is no need to hurry or to refresh. Keep this page open: it moves on by itself."),
      h("p", {}, leave));
  } else if (me.status === "waiting") {
    const admitted = room.admitted ?? 0;
    const ahead = Math.max(0, me.place - 1 - admitted);
    parts.push(
      h("p", { class: "queue-lead" }, "You're number ", h("strong", { class: "queue-place" }, me.place.toLocaleString()), " in line."),
      h("p", {}, ahead === 0 ? "You're next." : `${count(ahead, "person is", "people are")} ahead of you. `,
        ` Estimated wait: ${waitText(ahead, room.admit_per_minute)}.`),
      h("label", { for: "queue-progress", class: "visually-hidden" }, "Progress through the line"),
      h("progress", { id: "queue-progress", max: me.place, value: Math.min(admitted, me.place) }),
      h("p", { class: "hint" }, "Keep this page open: when it's your turn you can hold seats right here, without reloading. You can already look at the seats below."),
      why,
      h("p", {}, leave));
  } else if (me.status === "admitted") {
    ui.queueClock = h("strong", { class: "queue-clock" }, clock(Date.parse(me.admission_expires_at) - now()));
    parts.push(
      h("p", { class: "queue-lead ok" }, "It's your turn!"),
      h("p", {}, "Choose your seats and press Hold seats before ",
        h("strong", {}, localTime(me.admission_expires_at)), " your time (", ui.queueClock, " left)."));
  } else if (me.status === "expired") {
    parts.push(
      h("p", { class: "queue-lead" }, "Your turn has ended."),
      h("p", {}, "Your admission ran out before you held seats. You can join the line again, at the back."),
      h("button", { type: "button", onclick: () => rejoin() }, "Join the queue again"));
  } else if (me.status === "left") {
    parts.push(h("p", { class: "queue-lead" }, "You left the queue."),
      h("button", { type: "button", onclick: () => rejoin() }, "Join the queue again"));
  }
  replace(ui.queue, parts);
}

async function rejoin() {
  try {
    sessionStorage.removeItem(STORE.admission);
  } catch {
    // ignore
  }
  st.queue.me = null;
  renderQueue();
  await joinQueue();
}

/** Every second: the waiting room's clocks and the admission's end; own holds that ran out. */
function tick() {
  if (st.ownHolds.some((hold) => Date.parse(hold.expires_at) <= now())) {
    const left = st.ownHolds.filter((hold) => Date.parse(hold.expires_at) > now());
    saveHolds(left);
    setOwnHolds(left);
  }
  const me = st.queue?.me;
  if (!me) return;
  if (me.status === "lobby" && ui.queueClock) {
    const left = Date.parse(st.queue.room?.opens_at || me.opens_at) - now();
    ui.queueClock.textContent = clock(left);
    if (left <= 0) refreshSoon();
  } else if (me.status === "admitted") {
    const left = Date.parse(me.admission_expires_at) - now();
    if (ui.queueClock) ui.queueClock.textContent = clock(left);
    if (left <= 60_000 && !st.queue.warned) {
      st.queue.warned = true;
      announce("One minute left to hold your seats.");
    }
    if (left <= 0) {
      st.queue.me = { status: "expired" };
      announce("Your turn has ended. Join the queue again to hold seats.");
      renderQueue();
      renderSummary();
    }
  }
}

boot();
