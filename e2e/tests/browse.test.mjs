// Browsing: What's on (search, filters kept in the URL, "Load more"), the event page
// (showtimes by day and venue, in the venue's time zone, with availability and prices), and
// both pages on a phone.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, screenshot, assertClean, eventually } from "../harness.mjs";

const DEMO_TITLES = [
  "Aurora Skies — World Tour",
  "Heist at Harbour Nine",
  "Laugh Track",
  "Night Strings Quartet",
  "Orbit of Glass",
  "Paper Lanterns",
  "Small Dragons",
  "Static",
  "The Cartographer's Daughter",
  "The Last Projectionist",
];
const DAY = 86_400_000;

let server;
let browser;
/** Made in `before`: a New York venue whose showtimes cross the UTC day boundary. */
const made = {};

/** A link's accessible name, as the accessibility tree has it. */
async function accessibleName(link) {
  const snapshot = await link.ariaSnapshot();
  // `- link "name"` or, when the name holds a colon, `- 'link "name"':`.
  const match = /^- '?link "((?:[^"\\]|\\.)*)"/m.exec(snapshot);
  assert.ok(match, snapshot);
  return match[1].replace(/\\(.)/g, "$1");
}

function eventsRegion(page) {
  return page.getByRole("region", { name: "Events" });
}

async function shownTitles(page) {
  return eventsRegion(page).getByRole("link").allInnerTexts();
}

async function waitForResults(page) {
  const status = page.locator("#status");
  await eventually(async () => {
    const text = await status.innerText();
    assert.match(text, /result|No events match/);
    assert.equal(await eventsRegion(page).locator("ul").getAttribute("aria-busy"), "false");
  });
  return status.innerText();
}

/** The day (YYYY-MM-DD) of an instant in a time zone. */
function dayOf(iso, timeZone) {
  return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone }).format(new Date(iso));
}

async function buyAll(showtimeId, count, buyer) {
  const seats = await server.api(`/api/v1/showtimes/${showtimeId}/seats`);
  const free = seats.tickets.filter((ticket) => ticket.status === "available").slice(0, count);
  for (const ticket of free) {
    await server.api(`/ticket/${ticket.id}`, {
      method: "POST", token: buyer.token, key: `buy-${ticket.id}`, body: { payment_token: "tok_visa" },
    });
  }
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const admin = await server.admin();
  const as = (path, body) => server.api(path, { method: "POST", token: admin.token, body });

  const venue = await as("/api/v1/admin/venues", { name: "Hudson Picture House", city: "New York", time_zone: "America/New_York" });
  const hall = await as(`/api/v1/admin/venues/${venue.id}/halls`, {
    name: "Studio 4",
    layout: { sections: [{ name: "Stalls", kind: "seated", rows: [
      { label: "A", category: "standard", seats: 4 },
      { label: "B", category: "premium", seats: 4 },
    ] }] },
  });
  const movie = await as("/api/v1/admin/events", {
    kind: "movie", title: "Midnight Ferry", synopsis: "A night crossing that never quite reaches the shore.",
    genres: ["noir", "drama"], runtime_minutes: 95, rating: "PG-13",
  });
  const concert = await as("/api/v1/admin/events", {
    kind: "concert", title: "Harbour Lights Live", artist: "The Lighthouse Band", synopsis: "Sea shanties, amplified.",
    genres: ["folk"],
  });
  const comedy = await as("/api/v1/admin/events", {
    kind: "movie", title: "Paper Moon Revue", synopsis: "Vaudeville, one last time.", genres: ["comedy"], runtime_minutes: 60,
  });

  // 02:00 UTC is 21:00 the evening before in New York: the page must file it under that day.
  const base = new Date(Date.now() + 2 * DAY);
  const lateShow = new Date(Date.UTC(base.getUTCFullYear(), base.getUTCMonth(), base.getUTCDate(), 2, 0)).toISOString();
  const nextDay = new Date(Date.parse(lateShow) + DAY + 21 * 3_600_000).toISOString(); // 23:00 UTC, 18:00 NY
  const showtime = (event_id, starts_at) => as("/api/v1/admin/showtimes", {
    event_id, hall_id: hall.id, starts_at, currency: "USD", prices: { standard: 1400, premium: 1900 },
  });
  const few = await showtime(movie.id, lateShow);
  const soldOut = await showtime(movie.id, nextDay);
  await showtime(concert.id, nextDay);
  await showtime(comedy.id, nextDay);

  const buyer = await server.user();
  await buyAll(few.id, 7, buyer); // 1 of 8 seats left
  await buyAll(soldOut.id, 8, buyer);
  Object.assign(made, { movie, few, soldOut, lateShow, nextDay });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("What's on lists every event with its poster, and loads more", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await eventsRegion(page).getByRole("link", { name: "Heist at Harbour Nine" }).waitFor();
  assert.equal(await page.getByRole("heading", { level: 1 }).innerText(), "What's on");

  // 13 events on sale, 12 per page.
  assert.equal(await waitForResults(page), "12 results shown, more available");
  assert.equal((await shownTitles(page)).length, 12);
  const posters = eventsRegion(page).getByRole("img", { name: /^Poster: / });
  assert.equal(await posters.count(), 12);
  const aurora = eventsRegion(page).getByRole("listitem").filter({ hasText: "Aurora Skies — World Tour" });
  assert.ok(await aurora.getByRole("img", { name: "Poster: Aurora Skies — World Tour" }).isVisible());
  assert.match(await aurora.innerText(), /Concert/);
  // Its next showtime is later than the first hundred: asked for on its own, for the city.
  const auroraNext = (await server.api("/api/v1/events?q=Aurora")).items[0].next_starts_at;
  const berlin = (options) => new Intl.DateTimeFormat("en-GB", { ...options, timeZone: "Europe/Berlin" }).format(new Date(auroraNext));
  const expectedNext = `Next: ${berlin({ weekday: "short", day: "numeric", month: "short" })}, ${berlin({ hour: "2-digit", minute: "2-digit" })} · Berlin`;
  await eventually(async () => assert.equal(await aurora.locator(".next").innerText(), expectedNext));
  const link = eventsRegion(page).getByRole("link", { name: "Static" });
  assert.match(await link.getAttribute("href"), /^\/events\/evt_/);
  await screenshot(page, "whats-on");

  const more = page.getByRole("button", { name: "Load more" });
  await more.click();
  await eventually(async () => assert.equal(await page.locator("#status").innerText(), "13 results"));
  assert.equal(await more.isVisible(), false);
  const titles = await shownTitles(page);
  for (const title of [...DEMO_TITLES, "Midnight Ferry", "Harbour Lights Live", "Paper Moon Revue"]) {
    assert.ok(titles.includes(title), `${title} is listed`);
  }
  // Focus moves to the first event of the new page.
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert.equal(focused, titles[12]);
  assertClean(page);
});

/** "Today, 20:15", "Tomorrow, 09:00" or "Fri 6 Dec, 21:00", as a card says when a showtime is next in a zone. */
function nextLabel(iso, timeZone) {
  const format = (options, date) => new Intl.DateTimeFormat("en-GB", { ...options, timeZone }).format(date);
  const now = Date.now();
  let day = format({ weekday: "short", day: "numeric", month: "short" }, new Date(iso));
  if (dayOf(iso, timeZone) === dayOf(new Date(now).toISOString(), timeZone)) day = "Today";
  else if (dayOf(iso, timeZone) === dayOf(new Date(now + DAY).toISOString(), timeZone)) day = "Tomorrow";
  return `${day}, ${format({ hour: "2-digit", minute: "2-digit" }, new Date(iso))}`;
}

test("What's on shows each card's next time once, in its venue's zone, to a visitor far away", async () => {
  // A visitor in Auckland, 11 to 18 hours from every venue (Berlin, Hamburg, New York): a
  // time in the browser's zone can never pass for the venue's.
  const page = await newPage(browser, { timezoneId: "Pacific/Auckland" });
  // Every text a card's <time> ever shows, from the first render on, with the card's link:
  // a card drawn in the browser's zone and redrawn in the venue's leaves two.
  await page.addInitScript(() => {
    window.shownTimes = [];
    const record = (time) => {
      const href = time.closest("li")?.querySelector("a")?.getAttribute("href") || null;
      window.shownTimes.push({ href, text: time.textContent });
    };
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        const changed = mutation.type === "characterData" ? [mutation.target] : [...mutation.addedNodes];
        for (const node of changed) {
          const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
          if (!element) continue;
          const time = element.closest("time");
          if (time) record(time);
          else for (const inner of element.querySelectorAll("time")) record(inner);
        }
      }
    }).observe(document, { childList: true, subtree: true, characterData: true });
  });
  await page.goto(`${server.base}/`);
  assert.equal(await waitForResults(page), "12 results shown, more available");
  await page.getByRole("button", { name: "Load more" }).click();
  await eventually(async () => assert.equal(await page.locator("#status").innerText(), "13 results"));
  // Every card ends up with its next showtime's city (the zone came with it).
  const cards = eventsRegion(page).getByRole("listitem");
  await eventually(async () => {
    const lines = await cards.locator(".next").allInnerTexts();
    assert.equal(lines.length, 13);
    for (const line of lines) assert.match(line, / · (Berlin|Hamburg|New York)$/);
  });

  const shown = await page.evaluate(() => window.shownTimes);
  const finals = await cards.locator("time").evaluateAll((times) => times.map((time) => ({
    href: time.closest("li").querySelector("a").getAttribute("href"), datetime: time.dateTime, text: time.textContent,
  })));
  assert.equal(finals.length, 13);
  const zones = new Set();
  for (const { href, datetime, text } of finals) {
    const eventId = href.split("/").pop();
    const next = (await server.api(`/api/v1/showtimes?event_id=${eventId}&limit=1`)).items[0];
    assert.equal(Date.parse(next.starts_at), Date.parse(datetime), href);
    const zone = next.venue.time_zone;
    zones.add(zone);
    assert.equal(text, nextLabel(datetime, zone), `${href}: in ${zone}`);
    assert.notEqual(text, nextLabel(datetime, "Pacific/Auckland"));
    const texts = shown.filter((record) => record.href === href).map((record) => record.text);
    assert.deepEqual(texts, [text], `${href} was drawn once, in ${zone}`);
  }
  assert.deepEqual([...zones].sort(), ["America/New_York", "Europe/Berlin"]);
  assertClean(page);
});

test("search and filters narrow the list and stay in the URL", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await waitForResults(page);

  // Search (debounced): two titles contain "harbour".
  await page.getByLabel("Search").fill("harbour");
  await page.waitForURL((url) => url.searchParams.get("q") === "harbour");
  await eventually(async () => assert.deepEqual((await shownTitles(page)).sort(), ["Harbour Lights Live", "Heist at Harbour Nine"]));
  assert.equal(await waitForResults(page), "2 results");

  // Kind: concerts only.
  await page.getByRole("radio", { name: "Concerts" }).check();
  await page.waitForURL((url) => url.searchParams.get("kind") === "concert");
  await eventually(async () => assert.deepEqual(await shownTitles(page), ["Harbour Lights Live"]));

  // Reload keeps the filters, in the URL and in the form.
  await page.reload();
  await eventually(async () => assert.deepEqual(await shownTitles(page), ["Harbour Lights Live"]));
  assert.equal(await page.getByLabel("Search").inputValue(), "harbour");
  assert.equal(await page.getByRole("radio", { name: "Concerts" }).isChecked(), true);

  // Nothing matches: a clear message, and a way out.
  await page.getByLabel("Search").fill("zzz no such film");
  await eventually(async () => assert.equal(await page.locator("#status").innerText(), "No events match these filters."));
  assert.equal(await eventsRegion(page).getByRole("link").count(), 0);
  assert.match(await eventsRegion(page).innerText(), /No concerts with “zzz no such film” in the title on sale\./);
  await eventsRegion(page).getByRole("button", { name: "Clear filters" }).click();
  await page.waitForURL((url) => url.search === "");
  await eventually(async () => assert.equal((await shownTitles(page)).length, 12));
  assert.equal(await page.getByLabel("Search").inputValue(), "");
  assert.equal(await page.getByRole("radio", { name: "All", exact: true }).isChecked(), true);

  // City: the options come from the catalog (the New York venue was added by an admin).
  const cities = await page.getByLabel("City").locator("option").allInnerTexts();
  assert.deepEqual(cities, ["All cities", "Berlin", "Hamburg", "New York"]);
  await page.getByLabel("City").selectOption("Hamburg");
  await page.waitForURL((url) => url.searchParams.get("city") === "Hamburg");
  await eventually(async () => {
    const titles = await shownTitles(page);
    assert.ok(titles.includes("Static"));
    assert.ok(!titles.includes("Aurora Skies — World Tour"), "the Berlin concert is not in Hamburg");
    assert.ok(!titles.includes("Midnight Ferry"), "the New York movie is not in Hamburg");
  });
  await page.getByLabel("City").selectOption("New York");
  await eventually(async () =>
    assert.deepEqual((await shownTitles(page)).sort(), ["Harbour Lights Live", "Midnight Ferry", "Paper Moon Revue"]));

  // Genre: "noir" exists only because Midnight Ferry has it.
  await page.getByLabel("Genre").selectOption("noir");
  await page.waitForURL((url) => url.searchParams.get("genre") === "noir" && url.searchParams.get("city") === "New York");
  await eventually(async () => assert.deepEqual(await shownTitles(page), ["Midnight Ferry"]));
  await page.getByLabel("City").selectOption("");
  await page.getByLabel("Genre").selectOption("comedy");
  await eventually(async () => assert.deepEqual((await shownTitles(page)).sort(), ["Laugh Track", "Paper Moon Revue"]));
  await page.getByLabel("Genre").selectOption("");

  // Date: the day of the arena concert; the list is what the API has on that day.
  const aurora = (await server.api("/api/v1/events?q=Aurora")).items[0];
  const day = dayOf(aurora.next_starts_at, "Europe/Berlin");
  // The page asks for the visitor's calendar day (the browser is in Berlin), not UTC's.
  const offset = await page.evaluate((d) => -new Date(`${d}T12:00:00`).getTimezoneOffset(), day);
  assert.equal(offset, 60);
  const expected = (await server.api(`/api/v1/events?date=${day}&utc_offset_minutes=${offset}&limit=100`)).items
    .map((event) => event.title)
    .sort();
  const all = (await server.api("/api/v1/events?limit=100")).items.length;
  assert.ok(expected.length < all, "the date narrows the list");
  await page.getByLabel("Date").selectOption(day);
  await page.waitForURL((url) => url.searchParams.get("date") === day);
  await eventually(async () => assert.deepEqual((await shownTitles(page)).sort(), expected));
  assert.ok(expected.includes("Aurora Skies — World Tour"));

  // Leaving for an event and coming back keeps the filtered list.
  await eventsRegion(page).getByRole("link", { name: "Aurora Skies — World Tour" }).click();
  await page.waitForURL(/\/events\/evt_/);
  await page.getByRole("heading", { level: 1, name: "Aurora Skies — World Tour" }).waitFor();
  await page.getByRole("main").getByRole("link", { name: "What's on", exact: true }).click();
  await page.waitForURL((url) => url.pathname === "/" && url.searchParams.get("date") === day);
  await eventually(async () => assert.deepEqual((await shownTitles(page)).sort(), expected));
  assert.equal(await page.getByLabel("Date").inputValue(), day);
  assertClean(page);
});

test("the event page lists showtimes by day and venue with availability and prices", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await eventsRegion(page).getByRole("link", { name: "Heist at Harbour Nine" }).click();
  await page.waitForURL(/\/events\/evt_/);
  const heading = page.getByRole("heading", { level: 1, name: "Heist at Harbour Nine" });
  await heading.waitFor();
  assert.equal(await page.title(), "Heist at Harbour Nine · Marquee");
  assert.ok(await page.getByRole("img", { name: "Poster: Heist at Harbour Nine" }).isVisible());
  const main = page.getByRole("main");
  for (const text of ["2 h 1 min", "Crime, Thriller", "A retired safecracker"]) {
    assert.ok((await main.innerText()).includes(text), `shows ${text}`);
  }

  const eventId = new URL(page.url()).pathname.split("/")[2];
  const detail = await server.api(`/api/v1/events/${eventId}`);
  const showtimes = page.getByRole("region", { name: "Showtimes" });
  const links = showtimes.getByRole("link", { name: /^\d\d:\d\d, / });
  assert.equal(await links.count(), detail.showtimes.length);

  // One section per day (Berlin time), each with its venues.
  const days = [...new Set(detail.showtimes.map((showtime) => dayOf(showtime.starts_at, "Europe/Berlin")))];
  const dayHeadings = showtimes.getByRole("heading", { level: 3 });
  assert.equal(await dayHeadings.count(), days.length);
  const firstDay = showtimes.getByRole("region").first();
  const venues = await firstDay.getByRole("heading", { level: 4 }).allInnerTexts();
  assert.ok(venues.length >= 1 && venues.every((venue) => /^(Elbe Lichtspiele|Marquee Mitte)\s+(Hamburg|Berlin)$/.test(venue)), venues.join());
  // A quick way to a day.
  await showtimes.getByRole("navigation", { name: "Showtime dates" }).getByRole("link").nth(1).click();
  await page.waitForURL(new RegExp(`#day-${days[1]}$`));

  // Each showtime: time, venue, hall, seats left and the price range.
  const first = detail.showtimes[0];
  const time = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Berlin" })
    .format(new Date(first.starts_at));
  const firstLink = links.first();
  const name = await accessibleName(firstLink);
  assert.ok(name.startsWith(`${time}, `), name);
  assert.ok(name.includes(`${first.venue}, ${first.city}`), name);
  assert.ok(name.includes(first.hall), name);
  assert.ok(name.includes(`${first.seats_available} seats left`), name);
  assert.ok(name.includes("€9.50 to €16.50"), name);
  const visible = await firstLink.innerText();
  for (const text of [time, first.hall, `${first.seats_available} seats left`, "€9.50–€16.50"]) {
    assert.ok(visible.includes(text), `${visible} shows ${text}`);
  }
  await screenshot(page, "event");
  assertClean(page);

  // On to the seat map.
  await firstLink.click();
  await page.waitForURL(`${server.base}/showtimes/${first.id}`);
});

test("showtimes are shown in the venue's time zone, with few left and sold out", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/events/${made.movie.id}`);
  await page.getByRole("heading", { level: 1, name: "Midnight Ferry" }).waitFor();
  const showtimes = page.getByRole("region", { name: "Showtimes" });
  assert.match(await showtimes.innerText(), /Times are local to the venue \(America\/New York\)/);

  // 02:00 UTC is 21:00 of the day before in New York.
  const nyDay = new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", timeZone: "America/New_York" });
  const lateDay = showtimes.getByRole("region", { name: new RegExp(nyDay.format(new Date(made.lateShow))) });
  const few = lateDay.getByRole("link", { name: /^21:00, / });
  assert.match(await accessibleName(few), /Hudson Picture House, New York, Studio 4, few left: 1 seat left, US\$14\.00 to US\$19\.00$/);
  assert.match(await few.innerText(), /Few left\s*1 seat left/);

  const soldDay = showtimes.getByRole("region", { name: new RegExp(nyDay.format(new Date(made.nextDay))) });
  const sold = soldDay.getByRole("link", { name: /^18:00, / });
  await sold.waitFor();
  assert.match(await accessibleName(sold), /sold out/);
  assert.match(await sold.innerText(), /Sold out/);
  assertClean(page);
});

test("an unknown event says so", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/events/evt_does_not_exist`);
  await page.getByRole("heading", { level: 1, name: "Event not found" }).waitFor();
  assert.match(await page.getByRole("alert").innerText(), /no event at this address/);
  assert.equal(await page.title(), "Event not found · Marquee");
  await page.getByRole("main").getByRole("link", { name: "See what's on" }).waitFor();
  assertClean(page, ["404 /api/v1/events/evt_does_not_exist"]);
});

test("both pages fit a phone without sideways scrolling", async () => {
  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  const fits = () => page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: innerWidth }));

  await page.goto(`${server.base}/?city=Berlin`);
  await eventsRegion(page).getByRole("link", { name: "Static" }).waitFor();
  let { scroll, width } = await fits();
  assert.ok(scroll <= width, `What's on: ${scroll} > ${width}`);
  // Two cards side by side.
  const boxes = await eventsRegion(page).getByRole("listitem").evaluateAll((items) => items.slice(0, 2).map((item) => item.getBoundingClientRect().top));
  assert.equal(boxes[0], boxes[1]);
  await screenshot(page, "whats-on-phone");

  await eventsRegion(page).getByRole("link", { name: "Aurora Skies — World Tour" }).click();
  await page.getByRole("heading", { level: 1, name: "Aurora Skies — World Tour" }).waitFor();
  await page.getByRole("region", { name: "Showtimes" }).getByRole("link").first().waitFor();
  ({ scroll, width } = await fits());
  assert.ok(scroll <= width, `event page: ${scroll} > ${width}`);
  await page.goto(`${server.base}/events/${made.movie.id}`);
  await page.getByRole("region", { name: "Showtimes" }).getByRole("link").first().waitFor();
  ({ scroll, width } = await fits());
  assert.ok(scroll <= width, `event page: ${scroll} > ${width}`);
  await screenshot(page, "event-phone");
  assertClean(page);
});
