// The event page: a movie's or concert's details and its showtimes on sale, grouped by day and
// venue, each with its hall, what is left and its prices, in the venue's time zone.

import { api, h, replace, money, dayLabel, timeOfDay, dayKey, segment, setTitle, errorBox, ApiError, posterFor } from "/assets/app.js";

const app = document.getElementById("app");
const eventId = segment(1);
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

// The back link returns to the list as it was filtered (What's on keeps its query here).
try {
  const query = sessionStorage.getItem("marquee.whatson");
  if (query && query.startsWith("?")) document.getElementById("back").href = `/${query}`;
} catch {
  // no storage: the plain list
}

load();

async function load() {
  app.setAttribute("aria-busy", "true");
  const path = encodeURIComponent(eventId);
  // The event (with every showtime on sale) and the showtimes' full records (venue time zone,
  // prices per category, capacity). The second is optional: without it the page still works.
  const detailsRequest = api(`/api/v1/events/${path}`);
  const showtimesRequest = api(`/api/v1/showtimes?event_id=${path}&limit=100`).catch(() => null);
  let event;
  try {
    event = await detailsRequest;
  } catch (error) {
    app.setAttribute("aria-busy", "false");
    showFailure(error);
    return;
  }
  const full = await showtimesRequest;
  app.setAttribute("aria-busy", "false");
  setTitle(event.title);
  replace(app, details(event), showtimes(event, full?.items || []));
}

function showFailure(error) {
  if (error instanceof ApiError && error.status === 404) {
    setTitle("Event not found");
    replace(app,
      h("h1", {}, "Event not found"),
      h("div", { class: "notice error", role: "alert" },
        h("p", {}, "There is no event at this address, or it is no longer on sale."),
        h("p", {}, h("a", { href: "/" }, "See what's on"))));
    return;
  }
  setTitle("Event unavailable");
  replace(app,
    h("h1", {}, "This event could not be loaded"),
    errorBox(new Error(`Loading the event failed: ${error.message}`)),
    h("button", { type: "button", class: "secondary", onclick: load }, "Try again"));
}

// ---- Details -------------------------------------------------------------------------------

function details(event) {
  const facts = [];
  if (event.kind === "concert" && event.artist) facts.push(["Artist", event.artist]);
  if (event.runtime_minutes) facts.push(["Runtime", runtime(event.runtime_minutes)]);
  if (event.rating) facts.push(["Rating", event.rating]);
  if (event.genres?.length) facts.push(["Genres", event.genres.map(capitalize).join(", ")]);
  return h("div", { class: "event-hero" },
    h("div", { class: "event-poster" }, posterFor(event, { width: 240, height: 360 })),
    h("div", { class: "event-head" },
      h("p", { class: "kicker" }, h("span", { class: ["badge", `kind-${event.kind}`] }, event.kind === "concert" ? "Concert" : "Movie")),
      h("h1", {}, event.title),
      facts.length
        ? h("dl", { class: "facts" }, facts.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))))
        : null),
    event.synopsis ? h("p", { class: "synopsis" }, event.synopsis) : null);
}

function runtime(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (!hours) return `${rest} min`;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

function capitalize(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}


// ---- Showtimes -----------------------------------------------------------------------------

/**
 * The showtimes of the event page (brief: id, start, venue and city names, hall, seats left,
 * lowest price) completed with the full records when known: time zone, prices, capacity.
 */
function merge(brief, full) {
  const byId = new Map(full.map((showtime) => [showtime.id, showtime]));
  const zoneOfVenue = new Map(full.map((showtime) => [`${showtime.venue.name}|${showtime.venue.city}`, showtime.venue.time_zone]));
  return brief
    .map((showtime) => {
      const record = byId.get(showtime.id);
      return {
        ...showtime,
        timeZone: record?.venue.time_zone || zoneOfVenue.get(`${showtime.venue}|${showtime.city}`) || undefined,
        total: record?.seats_total,
        prices: record?.prices || [],
        cancelled: !!record?.cancelled_at,
      };
    })
    .filter((showtime) => !showtime.cancelled)
    .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
}

function showtimes(event, full) {
  const list = merge(event.showtimes || [], full);
  const section = h("section", { class: "showtimes", "aria-labelledby": "showtimes-heading" },
    h("h2", { id: "showtimes-heading" }, "Showtimes"));
  if (!list.length) {
    section.append(h("p", { class: "notice info" }, "No showtimes are on sale right now. Check back soon."));
    return section;
  }

  // Day (in the venue's time zone) → venue → showtimes, in start order.
  const days = new Map();
  for (const showtime of list) {
    const day = dayKey(showtime.starts_at, showtime.timeZone);
    if (!days.has(day)) days.set(day, { first: showtime, venues: new Map() });
    const venues = days.get(day).venues;
    const venue = `${showtime.venue}|${showtime.city}`;
    if (!venues.has(venue)) venues.set(venue, []);
    venues.get(venue).push(showtime);
  }

  const count = list.length;
  const zones = new Set(list.map((showtime) => showtime.timeZone || browserZone));
  const [onlyZone] = zones;
  const zoneNote = zones.size > 1
    ? "Times are local to each venue"
    : onlyZone !== browserZone ? `Times are local to the venue (${zoneName(onlyZone)})` : "";
  section.append(h("p", { class: "hint" },
    `${count} ${count === 1 ? "showtime" : "showtimes"} on ${days.size} ${days.size === 1 ? "day" : "days"}. `,
    zoneNote ? `${zoneNote}; prices are per ticket.` : "Prices are per ticket."));
  const perVenueZones = zones.size > 1;

  if (days.size > 1) {
    section.append(h("nav", { class: "day-nav", "aria-label": "Showtime dates" },
      h("ul", {}, [...days].map(([day, { first }]) =>
        h("li", {}, h("a", { href: `#day-${day}` }, shortDay(first)))))));
  }

  for (const [day, { first, venues }] of days) {
    const headingId = `day-${day}-heading`;
    section.append(h("section", { class: "day", id: `day-${day}`, "aria-labelledby": headingId },
      h("h3", { id: headingId }, relativeDay(first), dayLabel(first.starts_at, first.timeZone)),
      h("div", { class: "venues" }, [...venues.values()].map((items) => venueGroup(event, items, perVenueZones)))));
  }
  return section;
}

function venueGroup(event, items, showZone) {
  const { venue, city, timeZone } = items[0];
  return h("div", { class: "venue" },
    h("h4", {}, venue, h("span", { class: "city" }, city),
      showZone && timeZone ? h("span", { class: "zone" }, `${zoneName(timeZone)} time`) : null),
    h("ul", { class: "times" }, items.map((showtime) => h("li", {}, showtimeLink(event, showtime)))));
}

function showtimeLink(event, showtime) {
  const time = timeOfDay(showtime.starts_at, showtime.timeZone);
  const left = availability(event, showtime);
  const price = priceRange(showtime);
  const name = [
    time,
    dayLabel(showtime.starts_at, showtime.timeZone),
    `${showtime.venue}, ${showtime.city}`,
    showtime.hall,
    left.spoken,
    price.spoken,
  ].filter(Boolean).join(", ");
  // The link's name is the whole sentence (time first, as shown); the visible parts are the
  // same facts laid out for the eye, so they are hidden from screen readers.
  return h("a", { class: ["showtime", left.state], href: `/showtimes/${encodeURIComponent(showtime.id)}` },
    h("span", { class: "visually-hidden" }, name),
    h("time", { class: "time", datetime: showtime.starts_at, "aria-hidden": "true" }, time),
    h("span", { class: "hall", "aria-hidden": "true" }, showtime.hall),
    h("span", { class: "left", "aria-hidden": "true" },
      left.badge ? h("span", { class: ["badge", left.badgeClass] }, left.badge) : null, left.text),
    price.text ? h("span", { class: "price", "aria-hidden": "true" }, price.text) : null);
}

/** What is left: "Sold out", "Few left" (10 places or fewer, unless that is half the hall or more; or
 * the last 5 %), or the count. */
function availability(event, showtime) {
  const n = showtime.seats_available;
  const unit = event.kind === "concert" ? ["ticket", "tickets"] : ["seat", "seats"];
  const counted = `${n.toLocaleString()} ${n === 1 ? unit[0] : unit[1]} left`;
  if (n <= 0) return { state: "sold-out", badge: "Sold out", badgeClass: "bad", text: "", spoken: "sold out" };
  const share = showtime.total ? n / showtime.total : 0;
  const few = showtime.total ? (n <= 10 && share <= 0.5) || share <= 0.05 : n <= 10;
  if (few) return { state: "few", badge: "Few left", badgeClass: "warn", text: counted, spoken: `few left: ${counted}` };
  return { state: "open", badge: "", text: counted, spoken: counted };
}

/** "€9.50–€16.50" from the category prices, else "from €9.50". */
function priceRange(showtime) {
  const amounts = showtime.prices.map((entry) => entry.price);
  const currencies = new Set(amounts.map((price) => price.currency));
  if (amounts.length && currencies.size === 1) {
    const low = amounts.reduce((a, b) => (b.amount < a.amount ? b : a));
    const high = amounts.reduce((a, b) => (b.amount > a.amount ? b : a));
    if (low.amount === high.amount) return { text: money(low), spoken: money(low) };
    return { text: `${money(low)}–${money(high)}`, spoken: `${money(low)} to ${money(high)}` };
  }
  if (showtime.price_from) return { text: `from ${money(showtime.price_from)}`, spoken: `from ${money(showtime.price_from)}` };
  return { text: "", spoken: "" };
}

function zoneName(timeZone) {
  return timeZone.replace(/_/g, " ");
}

function relativeDay(showtime) {
  const day = dayKey(showtime.starts_at, showtime.timeZone);
  const now = Date.now();
  if (day === dayKey(new Date(now).toISOString(), showtime.timeZone)) return h("span", { class: "relative" }, "Today · ");
  if (day === dayKey(new Date(now + 86_400_000).toISOString(), showtime.timeZone)) return h("span", { class: "relative" }, "Tomorrow · ");
  return null;
}

function shortDay(showtime) {
  return new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: showtime.timeZone })
    .format(new Date(showtime.starts_at));
}
