// The box office and the sales dashboard, end to end: an admin builds a venue, a hall (with the
// live layout preview), an event and a showtime through the pages; the public sees it; a sale
// shows on the dashboard (live) and the audit log lists every step.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, logIn, screenshot, assertClean, eventually } from "../harness.mjs";

let server;
let browser;
let admin;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await server.admin();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Logs in through the login page. */
async function signIn(page, account) {
  await logIn(page, server.base, account);
}

/** A date `days` from now as YYYY-MM-DD in Europe/Berlin. */
function berlinDate(days) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date(Date.now() + days * 86_400_000));
}

const HALL_JSON = `{"sections": [
  {"name": "Parkett", "kind": "seated", "rows": [
    {"label": "A", "category": "standard", "seats": 8, "gaps_after": [4], "overrides": [{"number": 1, "category": "accessible"}]},
    {"label": "B", "category": "premium", "seats": 8, "gaps_after": [4]}]},
  {"name": "Standing", "kind": "general_admission", "capacity": 40, "category": "standing"}]}`;

test("admin creates a showtime that then appears on the public pages, and sees it sell", async () => {
  const page = await newPage(browser);
  await signIn(page, admin);
  const suffix = new URL(server.base).port;
  const venueName = `Kino Nord ${suffix}`;
  const title = `Nordlicht ${suffix}`;

  // --- Venue: a zone the browser does not know is refused before the API is asked.
  await page.goto(`${server.base}/admin#venues`);
  await page.getByRole("heading", { name: "Venues", level: 2 }).waitFor();
  await page.getByLabel("Name").fill(venueName);
  await page.getByLabel("City").fill("Leipzig");
  await page.getByLabel("Time zone").fill("Mars/Olympus_Mons");
  await page.getByRole("button", { name: "Create venue" }).click();
  await page.locator("main").getByText("is not a time zone this browser knows").first().waitFor();
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Create venue" }).click();
  await page.locator("main").getByText(`Venue “${venueName}” created.`).waitFor();
  await page.getByRole("cell", { name: venueName, exact: true }).waitFor();

  // --- Hall: the preview draws the layout as it is typed, and points at JSON errors.
  await page.getByRole("link", { name: "Add its halls" }).click();
  await page.getByRole("heading", { name: `New hall in ${venueName}` }).waitFor();
  await page.getByLabel("Hall name").fill("Saal A");
  const json = page.getByLabel("Layout (JSON)");
  const preview = page.locator(".layout-preview");
  const status = preview.locator(".layout-status");
  const seats = preview.locator("svg .seat");
  await json.pressSequentially(`{"sections": [{"name": "Parkett", "kind": "seated", "rows": [{"label": "A", "category": "standard", "seats": 6}`);
  // Unfinished JSON: an error with its place, no seats yet.
  await status.getByText(/The layout has an error\. Line 1, column \d+/).waitFor();
  assert.equal(await seats.count(), 0);
  await json.pressSequentially("]}]}");
  await status.getByText("Valid layout: 1 section, 6 seats: standard 6.").waitFor();
  assert.equal(await seats.count(), 6, "six seats drawn as typed");
  // A broken value names line and column and keeps the last good drawing.
  await json.fill(HALL_JSON.replace('"seats": 8, "gaps_after": [4]}]}', '"seats": "8", "gaps_after": [4]}]}'));
  await status.getByText(/Line 4, column \d+: .*"seats" must be a whole number, not text/).waitFor();
  await json.fill(HALL_JSON);
  await status.getByText("Valid layout: 2 sections, 16 seats and 40 standing places").waitFor();
  assert.equal(await seats.count(), 16);
  assert.equal(await preview.locator("svg .seat.accessible").count(), 1, "the accessible seat is marked");
  await preview.getByText("40 standing · standing").waitFor();
  for (const [category, places] of [["standard", "7"], ["accessible", "1"], ["premium", "8"], ["standing", "40"]]) {
    const row = preview.getByRole("row").filter({ hasText: category }).first();
    assert.equal(await row.getByRole("cell").last().textContent(), places, `${category} places`);
  }
  await screenshot(page, "admin-hall-editor");
  await page.getByRole("button", { name: "Create hall" }).click();
  await page.locator("main").getByText("Hall “Saal A” created with 56 places.").waitFor();
  await page.locator(".hall-list").getByText("Saal A").waitFor();

  // "Put an event on in it": the showtime form comes with the new hall chosen, for whichever
  // event is picked.
  const hallLabel = `${venueName} (Leipzig) · Saal A · 56 places`;
  await page.getByRole("link", { name: "Put an event on in it" }).click();
  await page.getByRole("heading", { name: /^New showtime of / }).waitFor();
  const chosenHall = () => page.getByLabel("Hall").evaluate((select) => select.selectedOptions[0].textContent);
  await eventually(async () => assert.equal(await chosenHall(), hallLabel));
  const eventPicker = page.getByLabel("Event");
  const otherEvent = await eventPicker.evaluate((select) => [...select.options].map((o) => o.value).find((v) => v !== select.value));
  await eventPicker.selectOption(otherEvent);
  await page.getByRole("heading", { name: /^New showtime of / }).waitFor();
  await eventually(async () => assert.equal(await chosenHall(), hallLabel));

  // --- Event: created as a draft, then published.
  await page.getByRole("link", { name: "Events", exact: true }).click();
  await page.getByRole("heading", { name: "New event" }).waitFor();
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Synopsis").fill("Lights over Leipzig.");
  await page.getByLabel("Genres").fill("drama, Mystery");
  await page.getByLabel("Running time (minutes)").fill("97");
  await page.getByLabel("Age rating").fill("FSK 12");
  await page.getByRole("button", { name: "Create event" }).click();
  await page.locator("main").getByText(`“${title}” created as a draft.`).waitFor();
  const item = page.locator(".admin-item").filter({ hasText: title });
  await item.getByText("Draft").waitFor();
  await item.getByRole("button", { name: "Publish", exact: true }).click();
  await page.locator("main").getByText(`“${title}” is published`).waitFor();
  await item.getByText("Published").waitFor();
  const events = await server.api("/api/v1/admin/events", { token: admin.token });
  const event = events.find((e) => e.title === title);
  assert.ok(event, "the event exists");
  assert.deepEqual(event.genres, ["drama", "mystery"]);
  assert.equal(event.runtime_minutes, 97);
  assert.equal(event.published, true);

  // --- Showtime: hall picker, local start time, decimal prices → minor units.
  await item.getByRole("link", { name: /Showtimes/ }).click();
  await page.getByRole("heading", { name: `New showtime of “${title}”` }).waitFor();
  await page.getByLabel("Hall").selectOption({ label: `${venueName} (Leipzig) · Saal A · 56 places` });
  await page.locator("main").getByText("Dates and times are local to").filter({ hasText: "Europe/Berlin" }).waitFor();
  const day = berlinDate(3);
  await page.getByLabel("Start date").fill(day);
  await page.getByLabel("Start time").fill("19:30");
  const prices = { standard: "11", premium: "15.50", accessible: "8,00", standing: "9.9" };
  for (const [category, value] of Object.entries(prices)) await page.getByLabel(category, { exact: true }).fill(value);
  await page.getByLabel("premium", { exact: true }).fill("15.505");
  await page.getByRole("button", { name: "Create showtime" }).click();
  await page.getByRole("alert").filter({ hasText: "premium: A EUR price has at most 2 decimal places" }).waitFor();
  await page.getByLabel("premium", { exact: true }).fill("15.50");
  await page.getByRole("button", { name: "Create showtime" }).click();
  await page.locator("main").getByText("Showtime created:").waitFor();
  const dashboardHref = await page.getByRole("link", { name: "Open its sales dashboard" }).getAttribute("href");
  const showtimeId = dashboardHref.split("/").pop();
  assert.match(showtimeId, /^sho_/);
  await page.locator(".showtime-card").filter({ hasText: "Saal A" }).getByText("On sale", { exact: true }).waitFor();
  await screenshot(page, "admin-showtimes");

  const [made] = (await server.api(`/api/v1/admin/events/${event.id}/showtimes`, { token: admin.token }));
  assert.equal(made.id, showtimeId);
  const localStart = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(made.starts_at));
  assert.equal(localStart, `${day}, 19:30`, "the start is 19:30 in the venue's zone");
  assert.deepEqual(Object.fromEntries(made.prices.map((p) => [p.category, p.price.amount])),
    { accessible: 800, premium: 1550, standard: 1100, standing: 990 });

  // --- The public, in a fresh anonymous context: the API, then the pages.
  const publicEvent = await server.api(`/api/v1/events/${event.id}`);
  assert.equal(publicEvent.title, title);
  const listed = await server.api(`/api/v1/showtimes?event_id=${event.id}`);
  assert.ok(listed.items.some((s) => s.id === showtimeId), "the showtime is listed publicly");
  const visitor = await newPage(browser);
  await visitor.goto(`${server.base}/`);
  await visitor.getByRole("link", { name: new RegExp(title) }).first().waitFor();
  await visitor.goto(`${server.base}/events/${event.id}`);
  await visitor.locator(`a[href="/showtimes/${showtimeId}"]`).first().waitFor();
  const seatMap = await visitor.goto(`${server.base}/showtimes/${showtimeId}`);
  assert.equal(seatMap.status(), 200);
  await visitor.locator("main").getByText(title).first().waitFor();
  assertClean(visitor);
  await visitor.context().close();

  // --- A sale: the dashboard shows it, and follows the next one live.
  await page.goto(`${server.base}${dashboardHref}`);
  await page.getByRole("heading", { name: title, level: 1 }).waitFor();
  const sold = page.locator('[data-stat="sold"] .value');
  await assert.doesNotReject(sold.filter({ hasText: /^0$/ }).waitFor());
  await page.locator("main").getByText("No tickets sold yet.").waitFor();
  await page.locator("main").getByText(/^\s*Live/).waitFor();

  const buyer = await server.user();
  const buy = async (label) => {
    const map = await server.api(`/api/v1/showtimes/${showtimeId}/seats`);
    const ticket = map.tickets.find((t) => t.label === label);
    const hold = await server.api("/api/v1/holds", {
      method: "POST", token: buyer.token, body: { showtime_id: showtimeId, ticket_ids: [ticket.id] },
    });
    return server.api("/api/v1/orders", {
      method: "POST", token: buyer.token, key: `pay-${hold.id}`, body: { hold_id: hold.id, payment_token: "tok_visa" },
    });
  };
  const order = await buy("Parkett B3");
  assert.equal(order.order.status, "confirmed");
  await sold.filter({ hasText: /^1$/ }).waitFor();
  await page.locator('[data-stat="gross"] .value').filter({ hasText: "15.50" }).waitFor();
  const bars = page.locator("svg.sales-chart rect.bar");
  await bars.first().waitFor();
  assert.equal(await bars.count(), 1);
  await page.locator("svg.sales-chart .point").waitFor();
  const premium = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "premium" }) });
  assert.match(await premium.textContent(), /premium.*€15\.50\s*1\s*0\s*7/);
  // The second sale arrives through the live stream, with no reload.
  await buy("Parkett B4");
  await sold.filter({ hasText: /^2$/ }).waitFor();
  await page.locator("main").getByText("The numbers, per minute").click();
  await page.getByRole("table").filter({ hasText: "Tickets sold per minute" }).getByRole("cell", { name: "2", exact: true }).first().waitFor();
  const csv = page.getByRole("link", { name: "Download CSV" });
  assert.equal(await csv.getAttribute("href"), `/api/v1/admin/showtimes/${showtimeId}/report.csv`);
  await screenshot(page, "admin-dashboard");

  // --- The audit log lists the admin's actions, and filters by action.
  await page.goto(`${server.base}/admin#audit`);
  const log = page.locator(".audit-table");
  for (const action of ["venue.create", "hall.create", "event.create", "event.publish", "showtime.create"]) {
    await log.getByRole("row").filter({ hasText: action }).filter({ hasText: admin.email }).first().waitFor();
  }
  await page.getByLabel("Action").fill("showtime.create");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.locator("main").getByText("1 entry shown.").waitFor();
  await log.getByRole("row").filter({ hasText: showtimeId }).waitFor();
  assert.match(page.url(), /#audit\/action%3Dshowtime\.create|#audit\/action=showtime\.create/);
  await screenshot(page, "admin-audit");

  assertClean(page);
  await page.context().close();
});

test("admin changes prices, runs a waiting room and cancels a showtime with refunds", async () => {
  // Set-up through the API: a venue, a hall, a published event, a showtime with one sale.
  const token = admin.token;
  const venue = await server.api("/api/v1/admin/venues", { method: "POST", token, body: { name: "Club Süd", city: "München", time_zone: "Europe/Berlin" } });
  const hall = await server.api(`/api/v1/admin/venues/${venue.id}/halls`, {
    method: "POST", token,
    body: { name: "Halle", layout: { sections: [{ name: "Floor", kind: "general_admission", capacity: 100, category: "floor" }, { name: "Rang", kind: "seated", rows: [{ label: "1", category: "seat", seats: 10 }] }] } },
  });
  const event = await server.api("/api/v1/admin/events", { method: "POST", token, body: { kind: "concert", title: "Echo Park Live", artist: "Echo Park", genres: ["music"] } });
  const starts = new Date(Date.now() + 5 * 86_400_000);
  starts.setUTCHours(19, 0, 0, 0);
  const showtime = await server.api("/api/v1/admin/showtimes", {
    method: "POST", token,
    body: { event_id: event.id, hall_id: hall.id, starts_at: starts.toISOString(), currency: "EUR", prices: { floor: 3500, seat: 4500 } },
  });
  const buyer = await server.user();
  const hold = await server.api("/api/v1/holds", { method: "POST", token: buyer.token, body: { showtime_id: showtime.id, section: "Floor", quantity: 2 } });
  const order = await server.api("/api/v1/orders", { method: "POST", token: buyer.token, key: `k-${hold.id}`, body: { hold_id: hold.id, payment_token: "tok_visa" } });

  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  await signIn(page, admin);
  await page.goto(`${server.base}/admin#showtimes/${event.id}`);
  const card = page.locator(".showtime-card").first();
  await card.getByText("Halle").waitFor();
  await card.getByText("108 of 110 places available (2 sold or held)").waitFor();

  // Change prices: decimal input, exact minor units; sold tickets keep theirs.
  await card.getByRole("button", { name: /Change prices/ }).click();
  await card.getByLabel("floor").fill("39.90");
  await card.getByLabel("seat").fill("49");
  await card.getByRole("button", { name: "Save prices" }).click();
  await page.locator("main").getByText(/^Prices saved for /).waitFor();
  const changed = await server.api(`/api/v1/showtimes/${showtime.id}`);
  assert.deepEqual(Object.fromEntries(changed.prices.map((p) => [p.category, p.price.amount])), { floor: 3990, seat: 4900 });
  await page.locator(".showtime-card").first().getByText("floor €39.90 · seat €49.00").waitFor();

  // The waiting room: set up, then removed. (Asking for a showtime's waiting room answers 404
  // while it has none, which Chromium logs as a failed resource load.)
  const fresh = page.locator(".showtime-card").first();
  await fresh.getByRole("button", { name: /Waiting room/ }).click();
  await fresh.getByText("No waiting room: everyone can buy").waitFor();
  await fresh.getByLabel("Buyers admitted per minute").fill("600");
  await fresh.getByLabel("Minutes each admission lasts").fill("10");
  await fresh.getByRole("button", { name: "Set up waiting room" }).click();
  await page.locator("main").getByText("Waiting room saved: it opens").waitFor();
  await fresh.getByText("Sold through a waiting room.").waitFor();
  const room = await server.api(`/api/v1/admin/showtimes/${showtime.id}/waiting-room`, { token });
  assert.equal(room.admit_per_minute, 600);
  await screenshot(page, "admin-showtimes-phone");
  await fresh.getByRole("button", { name: "Remove waiting room" }).click();
  await page.locator("main").getByText("Waiting room removed").waitFor();

  // Cancel: a confirm step that says buyers are refunded, then the refund.
  await fresh.getByRole("button", { name: /Cancel showtime…/ }).click();
  await fresh.getByText("every order for it is refunded in full").waitFor();
  await fresh.getByText("2 tickets sold (€70.00) will be refunded.").waitFor();
  await fresh.getByRole("button", { name: "Keep the showtime" }).click();
  assert.equal(await fresh.getByText("every order for it is refunded in full").count(), 0);
  await fresh.getByRole("button", { name: /Cancel showtime…/ }).click();
  await fresh.getByRole("button", { name: "Cancel showtime and refund buyers" }).click();
  await page.locator(".showtime-card").first().getByText("Cancelled", { exact: true }).waitFor();
  const refunded = await server.api(`/api/v1/orders/${order.order.id}`, { token: buyer.token });
  assert.match(refunded.order.status, /refund/);

  assertClean(page, [`404 /api/v1/admin/showtimes/${showtime.id}/waiting-room`]);
  await page.context().close();
});

test("users: the admin changes a role and disables an account; others are kept out", async () => {
  const customer = await server.user("someone");
  const page = await newPage(browser);
  await signIn(page, admin);
  await page.goto(`${server.base}/admin#users`);
  const row = page.getByRole("row").filter({ hasText: customer.email });
  await row.getByLabel(`Role of ${customer.email}`).selectOption("staff");
  await row.getByRole("button", { name: /Change role/ }).click();
  await page.locator("main").getByText(`${customer.email} is now staff.`).waitFor();
  await row.getByRole("button", { name: /Disable/ }).click();
  await page.locator("main").getByText(`${customer.email} is disabled`).waitFor();
  await row.getByText("Disabled", { exact: true }).waitFor();
  await row.getByRole("button", { name: /Enable/ }).click();
  await page.locator("main").getByText(`${customer.email} is enabled again.`).waitFor();
  await screenshot(page, "admin-users");
  assertClean(page);
  await page.context().close();

  // A customer gets a clear message, not a broken page.
  const other = await server.user("nosy");
  const visitor = await newPage(browser);
  await signIn(visitor, other);
  await visitor.goto(`${server.base}/admin`);
  await visitor.getByRole("alert").filter({ hasText: "This page is for admin accounts" }).waitFor();
  assertClean(visitor);
  await visitor.context().close();
});
