// A tour of every page, on a laptop and on a phone: each page shows its content, has no
// console errors, does not scroll sideways, and passes the axe-core accessibility audit
// (WCAG 2.1 A/AA, serious and critical findings). With SCREENSHOTS=1 it also takes the
// screenshots in docs/screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, screenshot, accessibilityProblems, assertClean, signIn } from "../harness.mjs";

let server;
let browser;
let admin;
let buyer;
let movieShowtime;
let eventId;
let order;

const LAPTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 740 };

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await server.admin();
  buyer = await server.user("tour");
  const movies = await server.api("/api/v1/events?kind=movie");
  eventId = movies.items[0].id;
  const showtimes = await server.api(`/api/v1/showtimes?event_id=${eventId}&limit=1`);
  movieShowtime = showtimes.items[0].id;
  // Some sales, so the seat map, my tickets and the dashboard have something to show.
  const map = await server.api(`/api/v1/showtimes/${movieShowtime}/seats`);
  const seats = map.tickets.filter((t) => t.row && t.status === "available");
  const hold = await server.api("/api/v1/holds", {
    method: "POST",
    token: buyer.token,
    body: { showtime_id: movieShowtime, ticket_ids: [seats[20].id, seats[21].id] },
  });
  order = await server.api("/api/v1/orders", {
    method: "POST",
    token: buyer.token,
    key: "tour-1",
    body: { hold_id: hold.id, payment_token: "tok_visa" },
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Loads a page and waits until it has shown its data (no loading placeholder left). */
async function visit(page, path, ready) {
  await page.goto(server.base + path);
  await page.waitForLoadState("networkidle");
  if (ready) await page.locator(ready).first().waitFor();
  await page.waitForFunction(() => !document.querySelector("main .loading"), null, { timeout: 15_000 });
}

async function check(page, name) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${name}: the page scrolls sideways by ${overflow}px`);
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], `${name}: accessibility`);
  assertClean(page);
}

const PAGES = [
  { name: "whats-on", path: () => "/", ready: 'a[href^="/events/"]' },
  { name: "event", path: () => `/events/${eventId}`, ready: 'a[href^="/showtimes/"]' },
  { name: "seat-map", path: () => `/showtimes/${movieShowtime}`, ready: '[role="checkbox"]' },
  { name: "login", path: () => "/login", ready: "form" },
  { name: "register", path: () => "/register", ready: "form" },
  { name: "my-tickets", as: () => buyer, path: () => "/tickets", ready: 'img[alt^="QR code for"]' },
  { name: "box-office", as: () => admin, path: () => "/admin", ready: "main h1" },
  { name: "dashboard", as: () => admin, path: () => `/admin/showtimes/${movieShowtime}`, ready: "main svg" },
  { name: "door", as: () => admin, path: () => "/door", ready: "form" },
];

for (const viewport of [LAPTOP, PHONE]) {
  const device = viewport === PHONE ? "phone" : "laptop";
  for (const spec of PAGES) {
    test(`${spec.name} on a ${device}`, async () => {
      const page = await newPage(browser, { viewport, mobile: viewport === PHONE });
      try {
        if (spec.as) await signIn(page, server.base, spec.as());
        await visit(page, spec.path(), spec.ready);
        await check(page, `${spec.name} (${device})`);
        if (device === "laptop" && spec.name !== "seat-map") await screenshot(page, spec.name);
        if (device === "phone" && spec.name === "seat-map") await screenshot(page, "seat-map-phone");
      } finally {
        await page.context().close();
      }
    });
  }
}

test("the README's picture: a seat map with two seats picked", async () => {
  const page = await newPage(browser, { viewport: LAPTOP });
  try {
    await signIn(page, server.base, buyer);
    await visit(page, `/showtimes/${movieShowtime}`, '[role="checkbox"]');
    const free = page.locator('[role="checkbox"][aria-disabled="false"], [role="checkbox"]:not([aria-disabled])');
    await free.nth(30).click();
    await free.nth(31).click();
    assert.equal(await page.locator('[role="checkbox"][aria-checked="true"]').count(), 2);
    const sold = page.locator('[role="checkbox"][aria-disabled="true"]');
    assert.ok((await sold.count()) >= 2, `the two seats sold in set-up show as taken (order ${order.order.id})`);
    await check(page, "seat map with a selection");
    await screenshot(page, "seat-map");
  } finally {
    await page.context().close();
  }
});
