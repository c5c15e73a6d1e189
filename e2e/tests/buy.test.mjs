// Buying: browse → seats → checkout → tickets; the live seat map across two browsers; a
// declined card and an expired hold; the waiting room; and picking seats by keyboard only.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, screenshot, signIn as signInAt } from "../harness.mjs";

let server;
let browser;
let movies; // movie events with their showtimes, one per test so they do not meet

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const events = await server.api("/api/v1/events?kind=movie&limit=50");
  movies = [];
  for (const event of events.items) {
    const detail = await server.api(`/api/v1/events/${event.id}`);
    if (detail.showtimes.length) movies.push({ ...event, showtimes: detail.showtimes });
  }
  assert.ok(movies.length >= 5, "the demo catalog has enough movies");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Logs a browser context in with the cookie session (what the login page does). */
const signIn = (page, account) => signInAt(page, server.base, account);

/** Problems of a page, minus the failed requests a test provoked on purpose (e.g. a 402). */
function problems(page, ...expectedStatuses) {
  return page.problems.filter(
    (problem) => !expectedStatuses.some((status) => problem.includes(`the server responded with a status of ${status}`)),
  );
}

function seat(page, label) {
  return page.getByRole("checkbox", { name: new RegExp(`^${label.replace(/[()]/g, "\\$&")},`) });
}

/** Polls `check` until it returns a truthy value (web-first waiting for API state). */
async function eventually(check, what, timeout = 15_000) {
  const until = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether a request or response is a payment: POST /api/v1/orders. */
function isPayment(request) {
  return request.method() === "POST" && new URL(request.url()).pathname === "/api/v1/orders";
}

/** Every payment request a page sends, with its Idempotency-Key, in order. */
function recordPayments(page) {
  const sent = [];
  page.on("request", (request) => {
    if (isPayment(request)) sent.push(request.headers()["idempotency-key"]);
  });
  return sent;
}

/** Pays by clicking Pay once; answers the payment's response. */
async function payOnce(page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => isPayment(r.request())),
    page.getByRole("button", { name: /^Pay / }).click(),
  ]);
  return response;
}

async function seatStatus(showtimeId, label) {
  const map = await server.api(`/api/v1/showtimes/${showtimeId}/seats`);
  return map.tickets.find((t) => t.label === label)?.status;
}

test("browse, pick two seats, log in when asked, pay with the success card and see the tickets", async () => {
  const buyer = await server.user();
  const page = await newPage(browser);
  const movie = movies[0];

  await page.goto(`${server.base}/`);
  await page.getByRole("link", { name: movie.title }).first().click();
  await page.waitForURL(/\/events\//);
  // Showtime links are named with their time and venue.
  await page.getByRole("link", { name: new RegExp(movie.showtimes[0].venue) }).first().click();
  await page.waitForURL(/\/showtimes\//);
  const showtimeId = new URL(page.url()).pathname.split("/")[2];
  // What's on and the event page belong to other tests; this one answers for what follows.
  const browsing = page.problems.splice(0);
  if (problems({ problems: browsing }, 401).length) console.warn("problems while browsing:", browsing);

  // Two free seats, by mouse.
  const free = page.getByRole("checkbox", { name: /, available$/ });
  await free.first().waitFor();
  const first = free.nth(2);
  const second = free.nth(3);
  const firstLabel = (await first.getAttribute("aria-label")).split(",")[0];
  const secondLabel = (await second.getAttribute("aria-label")).split(",")[0];
  await first.click();
  await second.click();
  await seat(page, firstLabel).and(page.locator('[aria-checked="true"]')).waitFor();
  const summary = page.getByRole("complementary", { name: "Your selection" });
  await summary.getByText(firstLabel, { exact: true }).waitFor();
  await summary.getByText(secondLabel, { exact: true }).waitFor();
  await screenshot(page, "buy-seat-map");

  // Signed out: Hold seats asks to log in and comes back with the selection kept.
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel("Email").fill(buyer.email);
  await page.getByLabel("Password", { exact: true }).fill(buyer.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((url) => url.pathname === `/showtimes/${showtimeId}`);
  await seat(page, firstLabel).and(page.locator('[aria-checked="true"]')).waitFor();
  await seat(page, secondLabel).and(page.locator('[aria-checked="true"]')).waitFor();

  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\/hld_/);
  await page.getByRole("cell", { name: firstLabel }).waitFor();
  await page.getByRole("cell", { name: secondLabel }).waitFor();
  const timer = page.getByRole("timer");
  assert.match(await timer.textContent(), /^\d+:\d\d$/);
  await screenshot(page, "buy-checkout");

  await page.getByLabel("Visa — succeeds").check();
  const pay = page.getByRole("button", { name: /^Pay / });
  assert.match(await pay.textContent(), /^Pay .*\d/);
  await pay.click();
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  const confirmation = page.getByRole("main");
  await confirmation.getByRole("cell", { name: firstLabel }).waitFor();
  await eventually(async () => (await seatStatus(showtimeId, firstLabel)) === "sold", "the seat to be sold");
  // The order's reference is the short one My tickets shows; the full id is there too.
  const reference = (await confirmation.locator(".order-ref").textContent()).trim();
  assert.match(reference, /^[0-9A-F]{8}$/);
  const orders = await server.api("/api/v1/orders", { token: buyer.token });
  const orderId = orders.items[0].order.id;
  assert.ok(orderId.toUpperCase().endsWith(reference), `${reference} is the end of ${orderId}`);
  await confirmation.getByText(orderId, { exact: true }).waitFor();
  await screenshot(page, "buy-confirmation");

  await confirmation.getByRole("link", { name: "My tickets" }).click();
  await page.waitForURL(/\/tickets$/);
  await page.getByText(new RegExp(`^Order ${reference} ·`)).waitFor();
  const qr = page.locator('img[alt^="QR code for"]');
  await eventually(async () => (await qr.count()) >= 2, "two QR codes");
  await eventually(
    () => qr.evaluateAll((images) => images.every((img) => img.complete && img.naturalWidth > 0)),
    "the QR codes to load",
  );
  // The signed-out pages' /me probe answers 401; nothing else may fail.
  assert.deepEqual(problems(page, 401), []);
  await page.context().close();
});

test("a seat held or bought in one browser turns unavailable in another without a reload", async () => {
  const showtime = movies[1].showtimes[0];
  const [alice, bob] = [await server.user("alice"), await server.user("bob")];
  const a = await newPage(browser);
  const b = await newPage(browser);
  await signIn(a, alice);
  await signIn(b, bob);
  await a.goto(`${server.base}/showtimes/${showtime.id}`);
  await b.goto(`${server.base}/showtimes/${showtime.id}`);
  await a.getByText("Live", { exact: true }).waitFor();
  await b.getByText("Live", { exact: true }).waitFor();
  await a.evaluate(() => {
    window.notReloaded = true;
  });

  // Alice has chosen C3; Bob holds C3 and C4 first.
  await seat(a, "Stalls C3").click();
  await seat(a, "Stalls C3").and(a.locator('[aria-checked="true"]')).waitFor();
  await seat(b, "Stalls C3").click();
  await seat(b, "Stalls C4").click();
  await b.getByRole("button", { name: "Hold seats" }).click();
  await b.waitForURL(/\/checkout\//);

  // Held: unavailable in Alice's map, and her choice of C3 is undone with a message.
  for (const label of ["Stalls C3", "Stalls C4"]) {
    const held = a.getByRole("checkbox", { name: `${label}, standard, €12.50, on hold` });
    await held.waitFor();
    assert.equal(await held.getAttribute("aria-disabled"), "true");
    assert.equal(await held.getAttribute("aria-checked"), "false");
  }
  const selection = a.getByRole("complementary", { name: "Your selection" });
  await selection.getByText("Stalls C3 was just taken by someone else").waitFor();
  await selection.getByText("No seats selected yet").waitFor();

  // Bought: sold in Alice's map.
  await b.getByLabel("Mastercard — succeeds").check();
  await b.getByRole("button", { name: /^Pay / }).click();
  await b.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  const sold = seat(a, "Stalls C4");
  await a.getByRole("checkbox", { name: /^Stalls C4, .*, sold$/ }).waitFor();
  assert.equal(await sold.getAttribute("aria-disabled"), "true");
  assert.match(await sold.getAttribute("aria-label"), /sold$/);
  // Clicking a sold seat does nothing.
  await sold.click({ force: true });
  assert.equal(await sold.getAttribute("aria-checked"), "false");
  assert.equal(await a.evaluate(() => window.notReloaded), true, "Alice's page was not reloaded");
  await screenshot(a, "buy-seat-map-live");

  assert.deepEqual(problems(a), []);
  assert.deepEqual(problems(b), []);
  await a.context().close();
  await b.context().close();
});

test("a declined card keeps the seats held; another card then pays", async () => {
  const showtime = movies[2].showtimes[0];
  const buyer = await server.user();
  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  await seat(page, "Stalls B5").tap();
  await page.getByRole("button", { name: "Hold seats" }).tap();
  await page.waitForURL(/\/checkout\//);
  const holdId = new URL(page.url()).pathname.split("/")[2];

  const sent = recordPayments(page);

  // Before paying, the cancellation rule is said.
  await page.getByText(/^(Free cancellation until .+|This show starts in less than \d+ hours: these tickets cannot be cancelled\.)$/).waitFor();

  await page.getByLabel("Declined card").check();
  const first = await payOnce(page);
  assert.equal(first.status(), 402);
  const alert = page.getByRole("alert").filter({ hasText: "Your card was declined" });
  await alert.waitFor();
  const declined = await alert.textContent();
  assert.match(declined, /your seats stay held while the timer runs/);
  assert.equal(declined.match(/declined/gi).length, 1, `the decline is said once (${declined})`);
  // Keyboard and screen-reader users are taken to the message.
  assert.equal(await alert.evaluate((el) => el === document.activeElement), true, "focus is on the decline message");
  await screenshot(page, "buy-checkout-declined-phone");

  const hold = await server.api(`/api/v1/holds/${holdId}`, { token: buyer.token });
  assert.equal(hold.status, "active", "the hold survives the decline");
  assert.equal(await seatStatus(showtime.id, "Stalls B5"), "held");

  // The same card again is declined again: a new attempt with a new key, not a replay of the
  // stored answer to the first.
  assert.equal(await page.getByLabel("Declined card").isChecked(), true);
  const second = await payOnce(page);
  assert.equal(second.status(), 402);
  assert.equal((await second.allHeaders())["idempotent-replayed"], undefined, "the second decline is not a replay");
  await page.getByRole("alert").filter({ hasText: "Your card was declined" }).waitFor();
  assert.equal(sent.length, 2);
  assert.ok(sent[0] && sent[1], "both attempts carry an Idempotency-Key");
  assert.notEqual(sent[0], sent[1], "the retry after a decline uses a new key");

  // Another reason, its own words.
  await page.getByLabel("Insufficient funds").check();
  assert.equal((await payOnce(page)).status(), 402);
  const funds = page.getByRole("alert").filter({ hasText: "Not enough money on this card" });
  await funds.waitFor();
  assert.ok(!(await funds.textContent()).includes("declined"), "insufficient funds is not 'declined' again");

  // ...and a good card pays, once, however eagerly the button is pressed.
  await page.getByLabel("Visa — succeeds").check();
  await page.getByRole("button", { name: /^Pay / }).dblclick();
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  const visa = sent.slice(3);
  assert.ok(visa.length >= 1, "the Visa payment was sent");
  assert.ok(visa.length === 1 || new Set(visa).size === 1, `a double click sends one payment, or the same one again (${visa.length} sent)`);
  assert.ok(!sent.slice(0, 3).includes(visa[0]), "the Visa payment has its own key");
  await eventually(async () => (await seatStatus(showtime.id, "Stalls B5")) === "sold", "the seat to be sold");

  // A reload after the payment shows the confirmation again, and sends and charges nothing more.
  const before = sent.length;
  await page.reload();
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  assert.equal(sent.length, before, "no payment is sent on reload");
  const orders = await server.api("/api/v1/orders", { token: buyer.token });
  assert.equal(orders.items.length, 1, "one order for the hold");
  assert.equal(orders.items.filter((o) => o.order.status === "confirmed").length, 1);

  assert.deepEqual(problems(page, 402), []);
  await page.context().close();
});

test("when the hold runs out the checkout says so and the seats are free again", async () => {
  // Long enough for a debug build on a busy machine to get from the seat map to the checkout.
  const short = await startServer({ args: ["--hold-ttl-secs", "15", "--sweep-interval-secs", "1"] });
  try {
    const events = await short.api("/api/v1/events?kind=movie&limit=1");
    const detail = await short.api(`/api/v1/events/${events.items[0].id}`);
    const showtime = detail.showtimes[0];
    const buyer = await short.user();
    const page = await newPage(browser);
    const response = await page.request.post(`${short.base}/api/v1/auth/web/login`, {
      data: { email: buyer.email, password: buyer.password },
    });
    assert.equal(response.status(), 200);
    await page.goto(`${short.base}/showtimes/${showtime.id}`);
    await page.getByRole("checkbox", { name: /^Stalls D4,/ }).click();
    await page.getByRole("button", { name: "Hold seats" }).click();
    await page.waitForURL(/\/checkout\//);
    // The countdown, unless the machine was so slow that the hold ran out first...
    const timer = page.getByRole("timer");
    const expired = page.getByRole("heading", { name: "Your hold expired, seats released" });
    await timer.or(expired).waitFor({ timeout: 30_000 });
    const shown = await timer.textContent({ timeout: 500 }).catch(() => null);
    if (shown !== null) assert.match(shown, /^0:\d\d$/, "under a minute on the clock");

    // ...then the end, by itself (the page asks the server when its clock reaches zero).
    await expired.waitFor({ timeout: 45_000 });
    await screenshot(page, "buy-checkout-expired");
    const back = page.getByRole("link", { name: "Back to the seat map" });
    assert.equal(await back.getAttribute("href"), `/showtimes/${showtime.id}`);
    await eventually(async () => {
      const map = await short.api(`/api/v1/showtimes/${showtime.id}/seats`);
      return map.tickets.find((t) => t.label === "Stalls D4").status === "available";
    }, "the seat to be released");
    await back.click();
    await page.getByRole("checkbox", { name: /^Stalls D4, .*, available$/ }).waitFor();
    assert.deepEqual(problems(page), []);
    await page.context().close();
  } finally {
    await short.stop();
  }
});

test("the waiting room admits a browser by itself when its turn comes", async () => {
  const showtime = movies[3].showtimes[0];
  const boss = await server.admin();
  await server.api(`/api/v1/admin/showtimes/${showtime.id}/waiting-room`, {
    method: "PUT",
    token: boss.token,
    body: { opens_at: new Date(Date.now() - 1000).toISOString(), admit_per_minute: 20, admission_minutes: 5 },
  });
  // Two people are in line first.
  for (const early of [await server.user("early"), await server.user("early")]) {
    await server.api(`/api/v1/showtimes/${showtime.id}/queue`, { method: "POST", token: early.token });
  }

  const buyer = await server.user();
  const page = await newPage(browser);
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  const room = page.getByRole("region", { name: "Waiting room" });
  await room.waitFor();
  await room.getByText(/You're number \d+ in line/).waitFor();
  const place = Number(await room.locator(".queue-place").textContent());
  assert.ok(place >= 2, `behind the two early buyers (place ${place})`);
  await screenshot(page, "buy-waiting-room");
  await page.evaluate(() => {
    window.notReloaded = true;
  });

  // Trying to hold before the turn explains why not.
  await seat(page, "Stalls E5").click();
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.getByRole("alert").filter({ hasText: "not your turn yet" }).waitFor();

  // At 20 a minute the third place comes within about ten seconds, without a reload.
  await room.getByText("It's your turn!").waitFor({ timeout: 40_000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await screenshot(page, "buy-waiting-room-admitted");
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\//);
  await page.getByRole("cell", { name: "Stalls E5" }).waitFor();
  assert.deepEqual(problems(page), []);
  await page.context().close();
});

test("seats can be chosen with the keyboard alone", async () => {
  const showtime = movies[4].showtimes[0];
  const buyer = await server.user();
  const page = await newPage(browser);
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  await seat(page, "Stalls A1").waitFor();

  // Tab into the map: the map is one tab stop, on its first free seat.
  let role = null;
  for (let i = 0; i < 40 && role !== "checkbox"; i++) {
    await page.keyboard.press("Tab");
    role = await page.evaluate(() => document.activeElement?.getAttribute("role"));
  }
  assert.equal(role, "checkbox", "Tab reaches the seat map");
  // ...in one step from the zoom buttons: the map box itself is not a tab stop of its own.
  await page.keyboard.press("Shift+Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Fit", "the stop before the seats is the Fit button");
  await page.keyboard.press("Tab");
  const focused = () => page.evaluate(() => document.activeElement.getAttribute("aria-label"));
  assert.match(await focused(), /^Stalls A1, accessible, .*, available$/);
  assert.equal(await page.locator('.seatmap [tabindex="0"]').count(), 1, "one tab stop for all the seats");

  await page.keyboard.press("ArrowRight");
  assert.match(await focused(), /^Stalls A2,/);
  await page.keyboard.press("ArrowDown");
  assert.match(await focused(), /^Stalls B2,/);
  await page.keyboard.press("Space");
  assert.equal(await seat(page, "Stalls B2").getAttribute("aria-checked"), "true");
  await page.keyboard.press("End");
  assert.match(await focused(), /^Stalls B\d+,/);
  await page.keyboard.press("Enter");
  const last = (await focused()).split(",")[0];
  assert.equal(await seat(page, last).getAttribute("aria-checked"), "true");
  await page.keyboard.press("Enter");
  assert.equal(await seat(page, last).getAttribute("aria-checked"), "false");
  await page.getByRole("complementary", { name: "Your selection" }).getByText("Stalls B2", { exact: true }).waitFor();

  // One more Tab leaves the map; the roving stop stays on the last seat.
  await page.keyboard.press("Tab");
  assert.notEqual(await page.evaluate(() => document.activeElement?.getAttribute("role")), "checkbox");
  await page.keyboard.press("Shift+Tab");
  assert.match(await focused(), new RegExp(`^${last},`));

  // The selection can be held by keyboard too.
  await page.getByRole("button", { name: "Hold seats" }).focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/checkout\//);
  await page.getByRole("cell", { name: "Stalls B2" }).waitFor();
  assert.deepEqual(problems(page), []);
  await page.context().close();
});

test("the arena shows its sections first; standing places are chosen by quantity", async () => {
  const events = await server.api("/api/v1/events?kind=concert&limit=50");
  let arena = null;
  for (const event of events.items) {
    const detail = await server.api(`/api/v1/events/${event.id}`);
    arena ??= detail.showtimes.find((s) => s.seats_available > 20_000);
  }
  assert.ok(arena, "the demo arena concert");
  const buyer = await server.user();
  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${arena.id}`);

  const sections = page.getByRole("list", { name: /sections/i }).first();
  await sections.waitFor({ timeout: 30_000 });
  await screenshot(page, "buy-seat-map-arena-phone");
  // A block: its seats only, not the whole arena's.
  await page.getByRole("button", { name: /^Block 101\b/ }).tap();
  await page.getByRole("heading", { name: "Block 101" }).waitFor();
  const seats = await page.getByRole("checkbox").count();
  assert.ok(seats > 1000 && seats <= 2080, `one block of seats in the page (${seats})`);
  const first = page.getByRole("checkbox", { name: /^Block 101 row 1 seat 1, accessible, / });
  await first.waitFor();
  // On a phone the block opens big enough for fingers, and pans inside its box.
  const size = (await first.boundingBox()).width;
  assert.ok(size >= 23.5, `seats are a finger's size (${size}px)`);
  const box = await page.locator(".map-scroll").evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
  assert.ok(box.scroll > box.client, "the block pans sideways inside the map box");
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 375, "the page itself does not scroll sideways");
  await page.getByText(/^▲ Stage · row 1 nearest$/).waitFor();
  // Row labels stay in view: the rail at the box's left edge shows them while panned.
  await page.locator(".row-rail.shown").getByText("1", { exact: true }).first().waitFor({ state: "attached" });
  assert.equal(await page.locator(".row-rail").evaluate((el) => getComputedStyle(el).visibility), "visible");

  // Picked, a seat leaves most of the map in view: the selection is one line at the bottom.
  await page.getByRole("checkbox", { name: /^Block 101 row 1 seat \d+, lower, .*available$/ }).first().tap();
  const summary = page.getByRole("complementary", { name: "Your selection" });
  await summary.getByRole("button", { name: /^1 seat · €\d+\.\d\d/ }).waitFor();
  const sheet = await summary.boundingBox();
  assert.ok(sheet.height <= 90, `the selection sheet is compact (${sheet.height}px)`);
  await page.getByRole("button", { name: "All sections" }).tap();

  // The floor: a quantity, then the same Hold seats button. The limits are said up front.
  await page.getByText(/^Up to 10 tickets per booking\./).waitFor();
  await page.getByRole("button", { name: /^Floor\b/ }).tap();
  const quantity = page.getByLabel("Quantity");
  // A number that cannot be booked is said so, and kept as typed (not silently changed).
  for (const [typed, message] of [["50", "at most 10 tickets"], ["2.5", "whole"], ["-2", "cannot be negative"]]) {
    await quantity.fill(typed);
    await page.getByText(new RegExp(message)).first().waitFor();
    assert.equal(await quantity.inputValue(), typed);
    assert.equal(await quantity.getAttribute("aria-invalid"), "true");
  }
  await quantity.fill("0");
  await page.getByRole("button", { name: "More places" }).tap();
  await page.getByRole("button", { name: "More places" }).tap();
  assert.equal(await quantity.inputValue(), "2");
  assert.equal(await quantity.getAttribute("aria-invalid"), null);
  const line = summary.getByRole("button", { name: /^2 places · €148\.00/ });
  await line.waitFor();
  await line.tap();
  await summary.getByText("2 × Floor").waitFor();
  await page.getByRole("button", { name: "Hold seats" }).tap();
  await page.waitForURL(/\/checkout\//);
  // Standing places are not numbered: one line for the area, with the count.
  await page.getByRole("columnheader", { name: "Standing place" }).waitFor();
  await page.getByRole("cell", { name: "Floor, standing × 2" }).waitFor();

  // Change quantity: the hold is released, and the map has the same quantity chosen again.
  const holdId = new URL(page.url()).pathname.split("/")[2];
  await page.getByRole("button", { name: "Change quantity" }).tap();
  await page.waitForURL(/\/showtimes\//);
  assert.equal(await page.getByLabel("Quantity").inputValue(), "2");
  const hold = await server.api(`/api/v1/holds/${holdId}`, { token: buyer.token });
  assert.equal(hold.status, "released");
  assert.deepEqual(problems(page), []);
  await page.context().close();
});

test("Change seats releases the hold and reopens the map with those seats selected; the map releases every hold it knows", async () => {
  const showtime = movies[1].showtimes[1] || movies[0].showtimes[1];
  assert.ok(showtime, "a showtime for this test");
  const buyer = await server.user();
  const page = await newPage(browser);
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  await seat(page, "Stalls G5").click();
  await seat(page, "Stalls G6").click();
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\//);
  const first = new URL(page.url()).pathname.split("/")[2];
  await page.getByRole("cell", { name: "Stalls G6" }).waitFor();

  await page.getByRole("button", { name: "Change seats" }).click();
  await page.waitForURL((url) => url.pathname === `/showtimes/${showtime.id}`);
  // The same seats, selected again and free to change (not grey and "on hold").
  for (const label of ["Stalls G5", "Stalls G6"]) {
    await seat(page, label).and(page.locator('[aria-checked="true"]')).waitFor();
    assert.match(await seat(page, label).getAttribute("aria-label"), /, available$/);
  }
  assert.equal((await server.api(`/api/v1/holds/${first}`, { token: buyer.token })).status, "released");
  await page.getByText("Your seats were released so that you can change them").waitFor();
  // Swap one, hold again.
  await seat(page, "Stalls G6").click();
  await seat(page, "Stalls G7").click();
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\//);
  await page.getByRole("cell", { name: "Stalls G7" }).waitFor();
  const second = new URL(page.url()).pathname.split("/")[2];

  // Back on the map (the browser's Back), the held seats are the buyer's, with a way out.
  await page.goBack();
  const own = page.getByRole("region", { name: "Seats you hold" });
  await own.getByText(/Stalls G5, Stalls G7 — held until/).waitFor();
  await page.getByRole("checkbox", { name: /^Stalls G7, .*, held by you$/ }).waitFor();
  await own.getByRole("button", { name: "Release seats" }).click();
  await page.getByText("Your held seats were released").waitFor();
  await page.getByRole("checkbox", { name: /^Stalls G7, .*, available$/ }).waitFor();
  assert.equal((await server.api(`/api/v1/holds/${second}`, { token: buyer.token })).status, "released");
  assert.deepEqual(problems(page), []);
  await page.context().close();
});

test("with Stripe as the provider the checkout says card entry needs Stripe.js", async () => {
  const stripe = await startServer({
    args: ["--payment-provider", "stripe", "--stripe-secret-key", "sk_test_e2e", "--stripe-api-base", "http://127.0.0.1:9"],
  });
  try {
    const buyer = await stripe.user();
    const showtime = (await stripe.api("/api/v1/showtimes?limit=1")).items[0];
    const map = await stripe.api(`/api/v1/showtimes/${showtime.id}/seats`);
    const hold = await stripe.api("/api/v1/holds", {
      method: "POST",
      token: buyer.token,
      body: { showtime_id: showtime.id, ticket_ids: [map.tickets[5].id] },
    });
    const page = await newPage(browser);
    const response = await page.request.post(`${stripe.base}/api/v1/auth/web/login`, {
      data: { email: buyer.email, password: buyer.password },
    });
    assert.equal(response.status(), 200);
    await page.goto(`${stripe.base}/checkout/${hold.id}`);
    await page.getByText("Card entry needs Stripe's own card form").waitFor();
    assert.equal(await page.getByRole("radio").count(), 0, "no test cards");
    assert.equal(await page.getByRole("button", { name: /^Pay / }).isDisabled(), true);
    // Releasing still works, and leads back to the seat map.
    await page.getByRole("button", { name: "Release seats" }).click();
    await page.waitForURL((url) => url.pathname === `/showtimes/${showtime.id}`);
    await page.getByText("Your seats were released").waitFor();
    await page.getByRole("checkbox", { name: new RegExp(`^${map.tickets[5].label}, .*, available$`) }).waitFor();
    assert.deepEqual(problems(page), []);
    await page.context().close();
  } finally {
    await stripe.stop();
  }
});

test("when the answer to a payment is lost, paying again re-sends the same key and charges once", async () => {
  const showtime = movies[2].showtimes[1] || movies[2].showtimes[0];
  const { buyer, page } = await checkoutOfOneSeat(showtime, 7);

  // The first payment reaches the server, but its answer never comes back.
  const keys = await interceptFirstPost(page, "/api/v1/orders", async (route) => {
    await route.fetch();
    await route.abort("connectionreset");
  });
  await page.getByLabel("Visa — succeeds").check();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.getByRole("alert").filter({ hasText: "connection was lost" }).waitFor();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "the retry carries the same Idempotency-Key");
  const orders = await server.api("/api/v1/orders", { token: buyer.token });
  assert.equal(orders.items.length, 1, "one order");
  assert.deepEqual(page.problems.filter((p) => !p.includes("ERR_CONNECTION_RESET")), []);
  await page.context().close();
});

/** A problem answer the server could give, for `route.fulfill`. */
function problemAnswer(status, code, detail) {
  return {
    status,
    contentType: "application/problem+json",
    body: JSON.stringify({ type: "about:blank", title: "Conflict", status, detail, code }),
  };
}

/** A fresh hold of one free seat for `account`, through the API. */
async function holdOne(account, showtime, nth) {
  const map = await server.api(`/api/v1/showtimes/${showtime.id}/seats`);
  const ticket = map.tickets.filter((t) => t.row && t.status === "available")[nth];
  return server.api("/api/v1/holds", {
    method: "POST",
    token: account.token,
    body: { showtime_id: showtime.id, ticket_ids: [ticket.id] },
  });
}

/** A new buyer's checkout page for a fresh hold of one free seat (the `nth`) of `showtime`. */
async function checkoutOfOneSeat(showtime, nth) {
  const buyer = await server.user();
  const hold = await holdOne(buyer, showtime, nth);
  const page = await newPage(browser);
  await signIn(page, buyer);
  await page.goto(`${server.base}/checkout/${hold.id}`);
  return { buyer, hold, page };
}

/**
 * Records the Idempotency-Key of every POST to `path` and lets `first` answer the first one
 * (a refusal, a lost answer, …); the others reach the server. Returns the keys, in order.
 */
async function interceptFirstPost(page, path, first) {
  const keys = [];
  await page.route(`**${path}`, async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    keys.push(route.request().headers()["idempotency-key"]);
    if (keys.length === 1) await first(route);
    else await route.continue();
  });
  return keys;
}

test("a payment refused as already under way is watched; when that attempt is gone, paying again uses a new key", async () => {
  const showtime = movies[2].showtimes[1] || movies[2].showtimes[0];
  const { buyer, page } = await checkoutOfOneSeat(showtime, 11);

  // The first payment is refused as if another tab were paying (no such attempt exists, so
  // the page finds the hold active and not in a payment when it looks).
  const keys = await interceptFirstPost(page, "/api/v1/orders", (route) =>
    route.fulfill(problemAnswer(409, "payment_in_progress", "a payment for this hold is already in progress")),
  );
  await page.getByLabel("Visa — succeeds").check();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.getByRole("alert").filter({ hasText: "already under way" }).waitFor();
  assert.equal(await page.getByRole("button", { name: /^Pay / }).isDisabled(), true, "no paying while the other attempt runs");
  assert.equal(await page.getByRole("button", { name: "Release seats" }).isDisabled(), true);

  // The page looks, finds no payment under way, and lets the buyer pay.
  await page.getByRole("alert").filter({ hasText: "The other payment did not go through" }).waitFor({ timeout: 20_000 });
  const pay = page.getByRole("button", { name: /^Pay / });
  assert.equal(await pay.isEnabled(), true, "Pay is usable again");
  assert.equal(await page.getByRole("button", { name: "Release seats" }).isEnabled(), true);
  await pay.click();
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor();
  assert.equal(keys.length, 2);
  assert.notEqual(keys[0], keys[1], "the refused request's key is not used again");
  const orders = await server.api("/api/v1/orders", { token: buyer.token });
  assert.equal(orders.items.filter((o) => o.order.status === "confirmed").length, 1);
  assert.deepEqual(problems(page, 409), []);
  await page.context().close();
});

test("while the first request with a key still runs, the checkout asks again with the same key by itself", async () => {
  const showtime = movies[2].showtimes[1] || movies[2].showtimes[0];
  const { buyer, page } = await checkoutOfOneSeat(showtime, 13);

  const keys = await interceptFirstPost(page, "/api/v1/orders", (route) =>
    route.fulfill(problemAnswer(409, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress")),
  );
  await page.getByLabel("Visa — succeeds").check();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.getByRole("alert").filter({ hasText: "still being processed" }).waitFor();
  assert.equal(await page.getByRole("button", { name: /^Pay|^Paying/ }).isDisabled(), true);
  // No second press: the page asks again a moment later and gets the answer.
  await page.getByRole("heading", { name: "Booking confirmed" }).waitFor({ timeout: 20_000 });
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "the same key, so the payment cannot happen twice");
  assert.deepEqual(problems(page, 409), []);
  await page.context().close();
});

test("holding seats: while the first request with a key still runs, the seat map asks again with the same key", async () => {
  const showtime = movies[3].showtimes[1] || movies[4].showtimes[1];
  assert.ok(showtime, "a showtime for this test");
  const buyer = await server.user();
  const page = await newPage(browser);
  await signIn(page, buyer);
  const keys = await interceptFirstPost(page, "/api/v1/holds", (route) =>
    route.fulfill(problemAnswer(409, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress")),
  );
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  await seat(page, "Stalls F6").click();
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\//);
  await page.getByRole("cell", { name: "Stalls F6" }).waitFor();
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "the same key, so the seats cannot be held twice");
  assert.deepEqual(problems(page, 409), []);
  await page.context().close();
});

test("a phone whose clock is minutes slow is told the sale is open when the server says so", async () => {
  const boss = await server.admin();
  const token = boss.token;
  const venue = await server.api("/api/v1/admin/venues", { method: "POST", token, body: { name: "Kino Uhr", city: "Berlin", time_zone: "Europe/Berlin" } });
  const hall = await server.api(`/api/v1/admin/venues/${venue.id}/halls`, {
    method: "POST", token,
    body: { name: "Saal 1", layout: { sections: [{ name: "Parkett", kind: "seated", rows: [{ label: "A", category: "standard", seats: 8 }] }] } },
  });
  const event = await server.api("/api/v1/admin/events", { method: "POST", token, body: { kind: "movie", title: "Late Clocks", genres: ["drama"] } });
  const showtime = await server.api("/api/v1/admin/showtimes", {
    method: "POST", token,
    body: {
      event_id: event.id, hall_id: hall.id, currency: "EUR", prices: { standard: 1000 },
      starts_at: new Date(Date.now() + 3 * 86_400_000).toISOString(),
      // On sale since a minute ago, by the server's clock.
      on_sale_from: new Date(Date.now() - 60_000).toISOString(),
    },
  });
  const buyer = await server.user();
  const page = await newPage(browser);
  // The device's clock is three minutes slow.
  await page.clock.install({ time: new Date(Date.now() - 180_000) });
  await signIn(page, buyer);
  await page.goto(`${server.base}/showtimes/${showtime.id}`);
  await seat(page, "Parkett A3").click();
  assert.equal(await page.getByText("Tickets go on sale on").count(), 0, "no 'not on sale yet' notice");
  await page.getByRole("button", { name: "Hold seats" }).click();
  await page.waitForURL(/\/checkout\//);
  await page.getByRole("cell", { name: "Parkett A3" }).waitFor();
  assert.deepEqual(problems(page), []);
  await page.context().close();
});
