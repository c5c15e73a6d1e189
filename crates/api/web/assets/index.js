// What's on: every movie and concert with tickets on sale, with search, filters (city, genre,
// date, kind) kept in the URL, and "Load more" pages.

import { api, h, replace, dayKey, timeOfDay, formatIn, announce, errorBox, ApiError, posterFor } from "/assets/app.js";

const PAGE_SIZE = 12;
const SEARCH_DELAY_MS = 250;
const FILTERS = ["q", "city", "genre", "date", "kind"];
const KINDS = { movie: "Movie", concert: "Concert" };

const form = document.getElementById("filters");
const search = document.getElementById("q");
const citySelect = document.getElementById("city");
const genreSelect = document.getElementById("genre");
const dateSelect = document.getElementById("date");
const clearButton = document.getElementById("clear");
const status = document.getElementById("status");
const problem = document.getElementById("problem");
const list = document.getElementById("events");
const moreButton = document.getElementById("more");

/** The filters in effect, as in the URL: {q, city, genre, date, kind} (empty strings when unset). */
let state = readUrl();
let cursor = null;
let shown = 0;
let controller = null;
let searchTimer = 0;
/** The next showtime of an event, once known: key `event|instant` → showtime (its venue has the city and zone). */
const upcoming = new Map();
/**
 * The cards on screen: id → {event, next, located} (the "Next:" line, and whether its venue was
 * known when it was drawn).
 */
const cards = new Map();

function readUrl() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const key of FILTERS) out[key] = (params.get(key) || "").trim();
  if (!(out.kind in KINDS)) out.kind = "";
  return out;
}

function readForm() {
  const data = new FormData(form);
  const out = {};
  for (const key of FILTERS) out[key] = String(data.get(key) || "").trim();
  return out;
}

function writeForm() {
  search.value = state.q;
  ensureOption(citySelect, state.city, state.city);
  ensureOption(genreSelect, state.genre, genreLabel(state.genre));
  ensureOption(dateSelect, state.date, state.date && dateOptionLabel(state.date));
  citySelect.value = state.city;
  genreSelect.value = state.genre;
  dateSelect.value = state.date;
  for (const radio of form.elements.kind) radio.checked = radio.value === state.kind;
  clearButton.hidden = !isFiltered();
}

function isFiltered() {
  return FILTERS.some((key) => state[key]);
}

/** Keeps the filters in the address (replacing the entry: reload, back and sharing keep them). */
function writeUrl() {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state[key]) params.set(key, state[key]);
  const query = params.toString();
  const url = location.pathname + (query ? `?${query}` : "");
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
  try {
    sessionStorage.setItem("marquee.whatson", query ? `?${query}` : "");
  } catch {
    // storage unavailable (private mode): the back link simply goes to the unfiltered list
  }
}

/** A select keeps a value from the URL even before (or without) the option lists. */
function ensureOption(select, value, label) {
  if (!value) return;
  if ([...select.options].some((option) => option.value === value)) return;
  select.append(h("option", { value }, label || value));
}

function genreLabel(genre) {
  return genre ? genre.charAt(0).toUpperCase() + genre.slice(1) : "";
}

// ---- Dates: today and the next two weeks, as calendar days of the visitor -----------------

function localDay(offset) {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset, 12);
}

function keyOf(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

const shortDay = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });

function dateOptionLabel(key) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (!match) return key;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 12);
  const label = shortDay.format(date);
  if (key === keyOf(localDay(0))) return `Today, ${label}`;
  if (key === keyOf(localDay(1))) return `Tomorrow, ${label}`;
  return label;
}

function fillDates() {
  const options = [];
  for (let offset = 0; offset < 14; offset++) {
    const key = keyOf(localDay(offset));
    options.push(h("option", { value: key }, dateOptionLabel(key)));
  }
  dateSelect.append(...options);
}

// ---- Cities and genres, from the catalog itself --------------------------------------------

function fillSelect(select, values, label) {
  const current = select.value;
  const first = select.options[0];
  const known = new Set(values);
  if (current) known.add(current);
  const sorted = [...known].sort((a, b) => a.localeCompare(b));
  replace(select, first, sorted.map((value) => h("option", { value }, label(value))));
  select.value = current;
}

const cities = new Set();
/** The venues and the showtime sample, asked for once (again after a failure). */
let sample = null;
/** Next showtimes asked for on their own, by event and filters: key → a promise that never fails. */
const lookups = new Map();
const lookupQueue = [];
let lookupsRunning = 0;
/** Lookups run a few at a time: a page of cards may need one each, and need not ask all at once. */
const LOOKUPS_AT_ONCE = 3;

function remember(showtime) {
  const key = `${showtime.event_id}|${Date.parse(showtime.starts_at)}`;
  if (!upcoming.has(key)) upcoming.set(key, showtime);
  cities.add(showtime.venue.city);
}

/** The event's next showtime, when known (from the sample or asked for on its own). */
function showtimeOf(event) {
  return upcoming.get(`${event.id}|${Date.parse(event.next_starts_at)}`);
}

/**
 * The venues (the cities) and the next showtimes on sale (each card's venue, city and time
 * zone), shared by the City filter and the list, which waits for them before drawing cards.
 */
function loadSample() {
  sample ??= Promise.all([api("/api/v1/venues"), api("/api/v1/showtimes?limit=100")]).then(
    ([venues, page]) => {
      for (const venue of venues) cities.add(venue.city);
      for (const showtime of page.items) remember(showtime);
      fillSelect(citySelect, [...cities], (city) => city);
    },
    (error) => {
      sample = null;
      throw error;
    },
  );
  return sample;
}

async function loadCities() {
  await loadSample();
  // Cards drawn while the sample could not be had show the visitor's zone; their venue's now.
  for (const entry of cards.values()) {
    if (entry.located || !entry.event.next_starts_at || !showtimeOf(entry.event)) continue;
    entry.located = true;
    replace(entry.next, nextLine(entry.event));
  }
}

/**
 * The next showtimes of these events that the sample does not have (later than its hundred,
 * or under filters), each asked for on its own, for its venue's city and time zone; resolves
 * when all are known or have failed. Cities found this way join the City filter.
 */
async function lookUpNext(events) {
  const filter = new URLSearchParams();
  if (state.city) filter.set("city", state.city);
  if (state.date) {
    filter.set("date", state.date);
    filter.set("utc_offset_minutes", String(offsetOf(state.date)));
  }
  const known = cities.size;
  const waits = events
    .filter((event) => event.next_starts_at && !showtimeOf(event))
    .map((event) => {
      const key = `${event.id}|${filter}`;
      let done = lookups.get(key);
      if (!done) {
        const params = new URLSearchParams(filter);
        params.set("event_id", event.id);
        params.set("limit", "1");
        done = new Promise((resolve) => lookupQueue.push(async () => {
          try {
            const page = await api(`/api/v1/showtimes?${params}`);
            if (page.items[0]) remember(page.items[0]);
          } catch {
            // The card shows the time in the visitor's zone, without the city; a later load asks again.
            lookups.delete(key);
          }
          resolve();
        }));
        lookups.set(key, done);
        runLookups();
      }
      return done;
    });
  await Promise.all(waits);
  if (cities.size > known) fillSelect(citySelect, [...cities], (city) => city);
}

async function runLookups() {
  if (lookupsRunning >= LOOKUPS_AT_ONCE) return;
  lookupsRunning += 1;
  for (let lookup = lookupQueue.shift(); lookup; lookup = lookupQueue.shift()) await lookup();
  lookupsRunning -= 1;
}

async function loadGenres() {
  const genres = new Set();
  let after = null;
  for (let pages = 0; pages < 5; pages++) {
    const page = await api(`/api/v1/events?limit=100${after ? `&cursor=${encodeURIComponent(after)}` : ""}`);
    for (const event of page.items) for (const genre of event.genres || []) genres.add(genre);
    after = page.next_cursor;
    if (!after) break;
  }
  fillSelect(genreSelect, [...genres], genreLabel);
}

// ---- The list ------------------------------------------------------------------------------

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The visitor's UTC offset on a filter day, in minutes east of UTC: the API then reads the
 * date as the visitor's calendar day, not UTC's (a 00:30 show is on the day it says).
 */
function offsetOf(key) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (!match) return 0;
  return -new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]), 12).getTimezoneOffset();
}

function query(withCursor) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state[key]) params.set(key, state[key]);
  if (state.date) params.set("utc_offset_minutes", String(offsetOf(state.date)));
  params.set("limit", String(PAGE_SIZE));
  if (withCursor && cursor) params.set("cursor", cursor);
  return `/api/v1/events?${params}`;
}

/** Loads the first page for the current filters, or (`more`) the next page. */
async function load({ more = false, quiet = false } = {}) {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  list.setAttribute("aria-busy", "true");
  moreButton.disabled = true;
  if (!more) {
    status.classList.add("loading");
    status.textContent = isFiltered() ? "Searching…" : "Loading events…";
  } else {
    moreButton.textContent = "Loading…";
  }
  let page;
  try {
    // Each card is drawn once, with its next showtime in the venue's time zone: the venues and
    // the showtime sample (asked for once; without them the times fall back to the visitor's
    // zone) and the next showtimes the sample lacks come before the cards.
    [page] = await Promise.all([api(query(more), { signal }), loadSample().catch(() => {})]);
    await lookUpNext(page.items);
  } catch (error) {
    if (error.name === "AbortError") return;
    list.setAttribute("aria-busy", "false");
    moreButton.disabled = false;
    moreButton.textContent = "Load more";
    status.classList.remove("loading");
    status.textContent = more ? status.textContent : "Events could not be loaded.";
    const refused = error instanceof ApiError && error.status === 400;
    replace(problem, h("div", { class: "notice error", role: "alert" },
      h("p", {}, `${refused ? "These filters were refused" : "Loading events failed"}: ${error.message}`),
      refused
        ? h("button", { type: "button", class: "secondary", onclick: clearFilters }, "Clear filters")
        : h("button", { type: "button", class: "secondary", onclick: () => load({ more }) }, "Try again")));
    if (!more) {
      replace(list);
      cards.clear();
      moreButton.hidden = true;
    }
    return;
  }
  // A newer load (other filters) took over while the next showtimes were asked for.
  if (signal.aborted) return;
  replace(problem);
  list.setAttribute("aria-busy", "false");
  status.classList.remove("loading");
  moreButton.disabled = false;
  moreButton.textContent = "Load more";
  if (!more) {
    replace(list);
    cards.clear();
    shown = 0;
  }
  const added = page.items.map(card);
  list.append(...added);
  shown += added.length;
  cursor = page.next_cursor || null;
  moreButton.hidden = !cursor;

  let text;
  if (shown === 0) {
    text = isFiltered() ? "No events match these filters." : "Nothing is on sale right now.";
    replace(problem, h("div", { class: "notice info empty" },
      h("p", {}, isFiltered() ? describeFilters() : "Check back soon: new showtimes are added every week."),
      isFiltered() ? h("button", { type: "button", class: "secondary", onclick: clearFilters }, "Clear filters") : null));
  } else {
    text = cursor ? `${plural(shown, "result", "results")} shown, more available` : plural(shown, "result", "results");
  }
  status.textContent = text;
  if (!quiet) announce(more ? `${plural(added.length, "more event", "more events")} loaded. ${text}` : text);
  if (more && added.length) added[0].querySelector("a")?.focus();
  retryOptions();
}

/** "No movies in genre comedy with “moon” in the title in Berlin on Today, Wed 25 Nov on sale." */
function describeFilters() {
  const what = state.kind === "movie" ? "movies" : state.kind === "concert" ? "concerts" : "events";
  const parts = [`No ${what}`];
  if (state.genre) parts.push(`in genre ${genreLabel(state.genre)}`);
  if (state.q) parts.push(`with “${state.q}” in the title`);
  if (state.city) parts.push(`in ${state.city}`);
  if (state.date) parts.push(`on ${dateOptionLabel(state.date)}`);
  return `${parts.join(" ")} on sale. Try another search or fewer filters.`;
}

function card(event) {
  const next = h("p", { class: "next" }, nextLine(event));
  const genres = (event.genres || []).map(genreLabel).join(", ");
  const item = h("li", { class: ["card", "event-card"] },
    h("div", { class: "body" },
      h("h3", {}, h("a", { href: `/events/${encodeURIComponent(event.id)}` }, event.title)),
      h("p", { class: "kind" },
        h("span", { class: ["badge", `kind-${event.kind}`] }, KINDS[event.kind] || event.kind),
        event.kind === "concert" && event.artist ? h("span", { class: "artist" }, event.artist) : null),
      genres ? h("p", { class: "genres" }, h("span", { class: "visually-hidden" }, "Genres: "), genres) : null,
      next),
    h("div", { class: "art" }, posterFor(event, { width: 200, height: 300 }, { lazy: true })));
  cards.set(event.id, { event, next, located: !!(event.next_starts_at && showtimeOf(event)) });
  return item;
}

/** "Next: Today, 20:15 · Berlin", in the venue's time zone when its showtime is known (else the visitor's). */
function nextLine(event) {
  if (!event.next_starts_at) return null;
  const showtime = showtimeOf(event);
  const timeZone = showtime?.venue.time_zone;
  return [
    h("span", { class: "muted" }, "Next: "),
    h("time", { datetime: event.next_starts_at }, relativeDateTime(event.next_starts_at, timeZone)),
    showtime ? ` · ${showtime.venue.city}` : null,
  ];
}

function relativeDateTime(iso, timeZone) {
  const day = dayKey(iso, timeZone);
  const now = Date.now();
  let label;
  if (day === dayKey(new Date(now).toISOString(), timeZone)) label = "Today";
  else if (day === dayKey(new Date(now + 86_400_000).toISOString(), timeZone)) label = "Tomorrow";
  else label = formatIn(undefined, { weekday: "short", day: "numeric", month: "short" }, timeZone).format(new Date(iso));
  return `${label}, ${timeOfDay(iso, timeZone)}`;
}


// ---- Wiring --------------------------------------------------------------------------------

function applyForm() {
  clearTimeout(searchTimer);
  const next = readForm();
  if (FILTERS.every((key) => next[key] === state[key])) return;
  state = next;
  clearButton.hidden = !isFiltered();
  writeUrl();
  load();
}

function clearFilters() {
  state = { q: "", city: "", genre: "", date: "", kind: "" };
  writeForm();
  writeUrl();
  load();
  search.focus();
}

search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => applyForm(), SEARCH_DELAY_MS);
});
form.addEventListener("change", (event) => {
  if (event.target !== search) applyForm();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  applyForm();
});
form.addEventListener("reset", (event) => {
  event.preventDefault();
  clearFilters();
});
moreButton.addEventListener("click", () => load({ more: true }));

fillDates();
writeForm();
writeUrl();
load({ quiet: true });
/** Option lists that failed to load: tried again after the next successful load of the list. */
const failedOptions = new Map();

function loadOptions(what, loader) {
  loader()
    .then(() => {
      failedOptions.get(what)?.notice.remove();
      failedOptions.delete(what);
    })
    .catch((error) => {
      failedOptions.get(what)?.notice.remove();
      const notice = h("p", { class: "notice warn" }, `The list of ${what} could not be loaded (${error.message}); the other filters still work.`);
      form.append(notice);
      failedOptions.set(what, { notice, loader });
    });
}

function retryOptions() {
  for (const [what, entry] of failedOptions) {
    if (entry.retrying) continue;
    entry.retrying = true;
    loadOptions(what, entry.loader);
  }
}

loadOptions("cities", loadCities);
loadOptions("genres", loadGenres);
