// The door: staff check a ticket in and a second check-in is refused; forged, void and
// wrong-showtime codes are INVALID; the chosen showtime is remembered; customers are refused;
// a check whose answer was lost is recognised when the code is checked again.
//
// Tickets are bought through the API (bearer tokens), so this does not depend on the seat map.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, logIn, screenshot, accessibilityProblems, assertClean } from "../harness.mjs";

let server;
let browser;
let admin;
let staff;
let buyer;
const bought = {};

async function codeOf(account, ticketId) {
  return (await server.api(`/api/v1/tickets/${ticketId}`, { token: account.token })).code;
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await server.admin();
  staff = await server.staff(admin);
  buyer = await server.user();
  // Two showtimes the door lists (starting within the next day and a half) that are on sale.
  const door = await server.api("/api/v1/checkin/showtimes", { token: staff.token });
  const { items } = await server.api("/api/v1/showtimes?limit=100");
  const onSale = new Set(items.map((s) => s.id));
  const [first, second] = door.items.filter((s) => onSale.has(s.id) && s.seats_available > 5);
  assert.ok(first && second, "two showtimes on sale soon");
  // One the public cannot see (a draft event's), starting in three hours: the door lists it.
  const venues = await server.api("/api/v1/admin/venues", { token: admin.token });
  const [hall] = await server.api(`/api/v1/admin/venues/${venues[0].id}/halls`, { token: admin.token });
  const draft = await server.api("/api/v1/admin/events", {
    method: "POST", token: admin.token, body: { kind: "movie", title: "Door Draft Preview", genres: ["drama"] },
  });
  bought.hidden = await server.api("/api/v1/admin/showtimes", {
    method: "POST", token: admin.token,
    body: {
      event_id: draft.id, hall_id: hall.id, currency: "EUR",
      prices: Object.fromEntries(hall.categories.map((c) => [c, 1000])),
      starts_at: new Date(Date.now() + 3 * 3_600_000).toISOString(),
    },
  });
  bought.showtime = first;
  bought.other = second;
  const purchase = await server.buy(buyer, first.id, 2);
  bought.ticket = purchase.tickets[0];
  bought.code = await codeOf(buyer, purchase.tickets[0].id);
  const elsewhere = await server.buy(buyer, second.id, 1);
  bought.elsewhereCode = await codeOf(buyer, elsewhere.tickets[0].id);
  // A ticket that was refunded: its old code is void.
  const refunded = await server.buy(buyer, first.id, 1);
  bought.voidCode = await codeOf(buyer, refunded.tickets[0].id);
  await server.api(`/api/v1/admin/orders/${refunded.order.id}/refund`, {
    method: "POST",
    token: admin.token,
    body: { reason: "e2e" },
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Types a code into the door form and waits for the result to change. */
async function checkIn(page, code, { enter = false } = {}) {
  const before = await page.evaluate(() => document.querySelector("#result .result-when")?.textContent ?? "");
  const input = page.getByLabel("Ticket code");
  await input.fill(code);
  if (enter) await input.press("Enter");
  else await page.getByRole("button", { name: "Check in" }).click();
  await page.waitForFunction(
    (previous) => {
      const when = document.querySelector("#result .result-when");
      return when && when.textContent !== previous;
    },
    before,
  );
  return page.locator("#result");
}

test("staff checks a ticket in, and a second check-in is refused", async () => {
  const page = await newPage(browser);
  await logIn(page, server.base, staff);
  await page.goto(`${server.base}/door`);
  const input = page.getByLabel("Ticket code");
  await input.waitFor();
  assert.equal(await input.evaluate((el) => el === document.activeElement), true, "the code input has focus");
  // Every result is announced at once: an assertive live region (not a polite role=status).
  const region = page.locator("#result");
  assert.equal(await region.getAttribute("aria-live"), "assertive");
  assert.equal(await region.getAttribute("role"), null);
  // Submitted before the script runs, the form would POST (codes never go into a URL).
  assert.equal(await page.locator("#checkin-form").getAttribute("method"), "post");

  // The door admits to one showtime: it lists every showtime of the door's list (today's
  // first, by day), also those the public does not see, each naming its day.
  const showtime = page.getByLabel("Showtime");
  const listed = await server.api("/api/v1/checkin/showtimes", { token: staff.token });
  const options = page.locator("#showtime option");
  await page.waitForFunction((n) => document.querySelectorAll("#showtime option").length >= n, listed.items.length + 1);
  assert.equal(await options.count(), listed.items.length + 1, "every showtime of the door's list, and 'Any showtime'");
  assert.ok(listed.items.some((s) => s.id === bought.hidden.id), "the draft event's showtime is on the door's list");
  assert.match(await page.locator(`#showtime option[value="${bought.hidden.id}"]`).textContent(),
    /^\w{3} \d{1,2} \w{3}, \d\d:\d\d · Door Draft Preview · /);
  const groups = await page.locator("#showtime optgroup").evaluateAll((els) => els.map((el) => el.label));
  assert.match(groups[0], /^(Today|Tomorrow) · /, `today's showtimes first (${groups.join(" | ")})`);
  await showtime.selectOption(bought.showtime.id);

  // 1. A valid code: ADMITTED, with the seat and the event; the input is ready for the next one.
  let result = await checkIn(page, bought.code);
  await assertResult(result, "ADMITTED", [bought.ticket.label, bought.showtime.event_title]);
  assert.match(await result.getAttribute("class"), /\badmitted\b/);
  assert.equal(await input.inputValue(), "", "the input is cleared");
  assert.equal(await input.evaluate((el) => el === document.activeElement), true, "the input has focus again");
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (admitted)");
  await screenshot(page, "door-admitted");

  // 2. The same code again (a scanner presses Enter): ALREADY ADMITTED, with when, on the
  // same clock as the history's times.
  result = await checkIn(page, bought.code, { enter: true });
  await assertResult(result, "ALREADY ADMITTED", ["First admitted", bought.ticket.label]);
  const firstAt = /First admitted at (\d\d:\d\d:\d\d)/.exec(await result.textContent())?.[1];
  assert.ok(firstAt, "the first admission's time, to the second");
  const admittedAt = await page.locator("#history li").last().locator("time").textContent();
  const seconds = (t) => t.split(":").reduce((n, part) => n * 60 + Number(part), 0);
  assert.ok(Math.abs(seconds(firstAt) - seconds(admittedAt)) <= 3, `first admitted ${firstAt}, history says ${admittedAt}`);
  assert.match(await result.getAttribute("class"), /\balready\b/);
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (already admitted)");

  // 3. Garbage: INVALID, with the reason.
  result = await checkIn(page, "MQ1.not-a-real.code");
  await assertResult(result, "INVALID", ["Not a valid Marquee ticket"]);
  assert.match(await result.getAttribute("class"), /\binvalid\b/);

  // 4. A refunded ticket's code: INVALID, void.
  result = await checkIn(page, bought.voidCode);
  await assertResult(result, "INVALID", ["Ticket void", "refunded"]);

  // 5. A ticket for another showtime: INVALID, naming the showtime it is for.
  result = await checkIn(page, bought.elsewhereCode);
  await assertResult(result, "INVALID", ["Wrong showtime", bought.other.event_title]);
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (invalid)");
  await screenshot(page, "door-invalid");

  // The history lists the checks, newest first.
  const items = page.locator("#history li");
  assert.equal(await items.count(), 5);
  assert.match(await items.nth(0).textContent(), /INVALID.*Wrong showtime/);
  assert.match(await items.nth(3).textContent(), /ALREADY ADMITTED/);
  assert.match(await items.nth(4).textContent(), new RegExp(`ADMITTED.*${bought.ticket.label}`));
  assert.match(await page.locator("#tally").textContent(), /Admitted 1 · already admitted 1 · invalid 3/);

  // The chosen showtime is remembered on this device.
  await page.reload();
  await page.getByLabel("Ticket code").waitFor();
  await page.waitForFunction((id) => document.getElementById("showtime").value === id, bought.showtime.id);

  // What the server recorded: the ticket is checked in once.
  const ticket = await server.api(`/api/v1/tickets/${bought.ticket.id}`, { token: buyer.token });
  assert.ok(ticket.checked_in_at, "the ticket is checked in");

  assertClean(page, ["409 /api/v1/checkin", "410 /api/v1/checkin", "422 /api/v1/checkin"]);
  await page.context().close();
});

test("a check whose answer was lost, checked again, is taken for this device's own scan", async () => {
  const purchase = await server.buy(buyer, bought.showtime.id, 1);
  const code = await codeOf(buyer, purchase.tickets[0].id);
  const page = await newPage(browser);
  await logIn(page, server.base, staff);
  await page.goto(`${server.base}/door`);
  await page.getByLabel("Ticket code").waitFor();

  // The first check reaches the server (and admits the ticket), but its answer is lost.
  let sent = 0;
  await page.route("**/api/v1/checkin", async (route) => {
    sent += 1;
    if (sent === 1) {
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  let result = await checkIn(page, code);
  await assertResult(result, "CHECK FAILED", ["Not checked"]);

  // Checked again a moment later: already admitted, most likely by that very scan.
  await page.getByRole("button", { name: "Check this code again" }).click();
  await page.waitForFunction(() => /Check 2 /.test(document.querySelector("#result .result-when")?.textContent || ""));
  result = page.locator("#result");
  await assertResult(result, "ALREADY ADMITTED", ["Most likely this device's own scan", "got no answer", "let them in"]);
  assert.ok(!(await result.textContent()).includes("Do not admit again"));

  // A further check of the same code is a real second admission attempt.
  result = await checkIn(page, code);
  await assertResult(result, "ALREADY ADMITTED", ["Do not admit again", "First admitted"]);
  assert.equal(sent, 3);

  page.problems = page.problems.filter((p) => !p.includes("ERR_CONNECTION_RESET"));
  assertClean(page, ["409 /api/v1/checkin"]);
  await page.context().close();
});

async function assertResult(result, word, parts) {
  const text = await result.textContent();
  const shown = await result.locator(".result-word").textContent();
  assert.equal(shown, word, `result word (${text})`);
  for (const part of parts) assert.ok(text.includes(part), `"${part}" in "${text}"`);
}

test("the door works on a phone", async () => {
  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  await logIn(page, server.base, admin);
  await page.goto(`${server.base}/door`);
  await page.getByLabel("Ticket code").waitFor();
  const result = await checkIn(page, "garbage");
  assert.equal(await result.locator(".result-word").textContent(), "INVALID");
  // Nothing is wider than the screen, and the result is in view under the form.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `page is ${width}px wide`);
  const box = await result.boundingBox();
  assert.ok(box.y + 60 < 740, "the result word is visible without scrolling");
  assert.ok(box.width > 330, "the result spans the width");
  await screenshot(page, "door-phone");
  assertClean(page, ["422 /api/v1/checkin"]);
  await page.context().close();
});

test("a customer opening the door page is refused", async () => {
  const page = await newPage(browser);
  await logIn(page, server.base, buyer);
  await page.goto(`${server.base}/door`);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /Not allowed/);
  assert.ok(text.includes(buyer.email), "says who is signed in");
  assert.equal(await page.getByLabel("Ticket code").isVisible(), false, "no check-in form");
  assertClean(page);
  await page.context().close();
});

test("a signed-out visitor is sent to log in and comes back to the door", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/door`);
  await page.waitForURL((url) => url.pathname === "/login");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/door");
  await page.getByLabel("Email").fill(staff.email);
  await page.getByLabel("Password").fill(staff.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((url) => url.pathname === "/door");
  await page.getByLabel("Ticket code").waitFor();
  assertClean(page);
  await page.context().close();
});
