// Accounts and My tickets: register, log out and log in through the pages (with their errors:
// a short password, a taken email, a wrong password, throttling); `?next=` only leads within
// the site; /tickets sends a signed-out visitor to log in and back; a buyer sees their orders
// with QR codes that load, opens a code, and cancels an order while the refund window is open.
//
// Tickets are bought through the API (bearer tokens), so this does not depend on the seat map.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, newPage, logIn, signIn, screenshot, accessibilityProblems, assertClean, eventually } from "../harness.mjs";

const HOUR = 3_600_000;
let server;
let browser;

/** Demo showtimes starting more than `min` and less than `max` hours from now. */
async function showtimesBetween(min, max) {
  const { items } = await server.api("/api/v1/showtimes?limit=100");
  const now = Date.now();
  return items.filter((s) => {
    const ahead = new Date(s.starts_at).getTime() - now;
    return ahead > min * HOUR && ahead < max * HOUR && s.seats_available > 5;
  });
}

const header = (page) => page.getByRole("navigation", { name: "Main" });

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("register, log out, log in again; a wrong password and a taken email are explained", async () => {
  const email = `newcomer-${Date.now()}@example.com`;
  const password = "correct horse battery";
  const page = await newPage(browser);

  await page.goto(`${server.base}/register`);
  // Submitted before the script runs, the form would POST: the password never goes into a URL.
  assert.equal(await page.locator("#account-form").getAttribute("method"), "post");
  const emailInput = page.getByLabel("Email");
  const passwordInput = page.getByLabel("Password");
  assert.equal(await emailInput.getAttribute("autocomplete"), "email");
  assert.equal(await passwordInput.getAttribute("autocomplete"), "new-password");
  assert.match(await page.locator("#password-rules").textContent(), /At least 10 characters/);

  // A password that is too short is refused before anything is sent.
  await emailInput.fill(email);
  await passwordInput.fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("Your password needs at least 10 characters").waitFor();
  assert.equal(await passwordInput.getAttribute("aria-invalid"), "true");
  assert.equal(page.url(), `${server.base}/register`);

  await passwordInput.fill(password);
  // The password can be shown to check it (there is no second "repeat" field).
  await page.getByRole("button", { name: "Show password" }).click();
  assert.equal(await passwordInput.getAttribute("type"), "text");
  await page.getByRole("button", { name: "Hide password" }).click();
  assert.equal(await passwordInput.getAttribute("type"), "password");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${server.base}/`);
  await header(page).getByText(email).waitFor();
  await screenshot(page, "account-registered");

  // Log out with the header button.
  await header(page).getByRole("button", { name: "Log out" }).click();
  await header(page).getByText(email).waitFor({ state: "hidden" });
  await header(page).getByRole("link", { name: "Log in" }).waitFor();

  // The same email cannot register twice.
  await page.goto(`${server.base}/register`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("another long password");
  await page.getByRole("button", { name: "Create account" }).click();
  const taken = page.getByRole("alert").filter({ hasText: "already registered" });
  await taken.waitFor();
  await taken.getByRole("link", { name: "Log in instead" }).waitFor();

  // A wrong password: a clear error, the button usable again.
  await page.goto(`${server.base}/login`);
  assert.equal(await page.getByLabel("Password").getAttribute("autocomplete"), "current-password");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not my password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "Wrong email or password" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Log in" }).isEnabled(), true);
  assert.equal(await page.getByLabel("Password").inputValue(), "", "the wrong password is cleared");
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (login error)");
  await screenshot(page, "account-wrong-password");

  // The right one: signed in, the header says who.
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${server.base}/`);
  await header(page).getByText(email).waitFor();

  // Opening /login while signed in says who you are and offers a way on.
  await page.goto(`${server.base}/login`);
  await page.getByText(`You are signed in as ${email}.`).waitFor();
  await page.getByRole("link", { name: "My tickets" }).first().waitFor();
  assert.equal(await page.getByRole("button", { name: "Log in" }).isVisible(), false);

  assertClean(page, ["409 /api/v1/auth/web/register", "401 /api/v1/auth/web/login"]);
  await page.context().close();
});

test("the submit button is disabled while logging in, and ?next= only leads within the site", async () => {
  const account = await server.user("nexter");
  const page = await newPage(browser);
  await page.goto(`${server.base}/login?next=${encodeURIComponent("//evil.example/steal")}`);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  // Hold the answer back a moment to see the busy state.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route("**/api/v1/auth/web/login", async (route) => {
    await held;
    await route.continue();
  });
  await page.getByRole("button", { name: "Log in" }).click();
  const busy = page.getByRole("button", { name: "Logging in…" });
  await busy.waitFor();
  assert.equal(await busy.isDisabled(), true);
  release();
  await page.waitForURL(`${server.base}/`);
  await page.unroute("**/api/v1/auth/web/login");

  // A same-site path is followed (with its query).
  await page.context().clearCookies();
  await page.goto(`${server.base}/login?next=${encodeURIComponent("/tickets?order=x")}`);
  assert.match(await page.getByRole("link", { name: "Create an account" }).getAttribute("href"), /^\/register\?next=/);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${server.base}/tickets?order=x`);
  assertClean(page);
  await page.context().close();
});

test("/tickets sends a signed-out visitor to log in, and back", async () => {
  const account = await server.user("returner");
  const page = await newPage(browser);
  await page.goto(`${server.base}/tickets`);
  await page.waitForURL((url) => url.pathname === "/login");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/tickets");
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${server.base}/tickets`);
  await page.getByRole("heading", { name: "My tickets", level: 1 }).waitFor();
  await page.getByText("You have no orders yet.").waitFor();
  assertClean(page);
  await page.context().close();
});

test("a buyer sees their orders with QR codes, and cancels one while the refund window is open", async () => {
  const buyer = await server.user("fan");
  const [far] = await showtimesBetween(30, 24 * 8);
  const [near] = await showtimesBetween(1, 23);
  assert.ok(far && near, "the demo catalog has showtimes within and beyond the refund window");
  const soon = await server.buy(buyer, near.id, 1);
  const later = await server.buy(buyer, far.id, 2);

  const page = await newPage(browser);
  await logIn(page, server.base, buyer);
  await page.goto(`${server.base}/tickets?order=${later.order.id}`);

  const order = page.locator(`#order-${later.order.id}`);
  await order.waitFor();
  // The order of the link is highlighted and has focus.
  assert.match(await order.getAttribute("class"), /highlight/);
  await eventually(async () =>
    assert.equal(await page.evaluate(() => document.activeElement?.closest("article")?.id), `order-${later.order.id}`));
  const orderText = await order.textContent();
  for (const part of [far.event_title, far.venue.name, "Confirmed", "2 tickets"]) {
    assert.ok(orderText.includes(part), `"${part}" in the order`);
  }
  const total = await order.locator(".order-total").textContent();
  assert.match(total, /€\s?\d+[.,]\d\d|\d+[.,]\d\d\s?€/, "the total is formatted money");

  // Newest first: the later purchase comes before the earlier one.
  const ids = await page.locator("article.order").evaluateAll((articles) => articles.map((a) => a.id));
  assert.deepEqual(ids, [`order-${later.order.id}`, `order-${soon.order.id}`]);

  // Every ticket has its QR code, loaded.
  for (const ticket of later.tickets) {
    const qr = order.getByRole("img", { name: `QR code for ${ticket.label}`, exact: true });
    await qr.waitFor();
    assert.equal(await qr.getAttribute("src"), `/api/v1/tickets/${ticket.id}/qr.svg`);
    await eventually(async () => assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), "QR loaded"));
  }
  await screenshot(page, "my-tickets");

  // "Show code" opens a large code in a dialog; Escape closes it and focus returns.
  const label = later.tickets[0].label;
  const show = order.getByRole("button", { name: `Show code for ${label}` });
  await show.click();
  const dialog = page.getByRole("dialog", { name: label });
  await dialog.waitFor();
  const large = dialog.getByRole("img", { name: `QR code for ${label}` });
  await eventually(async () => assert.ok(await large.evaluate((img) => img.naturalWidth > 0 && img.clientWidth >= 240)));
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (code dialog)");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await show.evaluate((el) => el === document.activeElement), true, "focus is back on the button");

  // The show within the refund window cannot be cancelled, and says why.
  const soonOrder = page.locator(`#order-${soon.order.id}`);
  await soonOrder.getByText("Cancellation closed").waitFor();
  assert.equal(await soonOrder.getByRole("button", { name: /Cancel order/ }).count(), 0);

  // Cancel the later one: a confirmation first ("Keep my tickets" changes nothing)...
  const cancel = order.getByRole("button", { name: /^Cancel order/ });
  await cancel.click();
  const confirm = page.getByRole("dialog", { name: "Cancel this order?" });
  await confirm.waitFor();
  assert.match(await confirm.textContent(), /All 2 tickets/);
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (cancel dialog)");
  await confirm.getByRole("button", { name: "Keep my tickets" }).click();
  await confirm.waitFor({ state: "hidden" });
  assert.equal((await server.api(`/api/v1/orders/${later.order.id}`, { token: buyer.token })).order.status, "confirmed");

  // ...then for real: refunded, the result shown, the codes gone.
  await cancel.click();
  await confirm.waitFor();
  await confirm.getByRole("button", { name: "Cancel order and refund" }).click();
  await confirm.waitFor({ state: "hidden" });
  const refunded = page.locator(`#order-${later.order.id}`);
  await refunded.getByRole("status").filter({ hasText: "Order cancelled." }).waitFor();
  const text = await refunded.textContent();
  assert.match(text, /will be refunded/);
  assert.ok(text.includes("Refunded"), "the status badge says Refunded");
  assert.equal(await refunded.getByRole("img", { name: /QR code for/ }).count(), 0, "no codes any more");
  assert.equal(await refunded.getByRole("button", { name: /Cancel order/ }).count(), 0);
  assert.deepEqual(await accessibilityProblems(page), [], "accessibility (after cancelling)");
  await screenshot(page, "my-tickets-cancelled");

  const after = await server.api(`/api/v1/orders/${later.order.id}`, { token: buyer.token });
  assert.equal(after.order.status, "refunded");
  assertClean(page);
  await page.context().close();
});

test("the Cancel button follows cancellable_until, and a refused cancellation leaves a dialog that closes", async () => {
  const admin = await server.admin();
  const buyer = await server.user("refused");
  const [far] = await showtimesBetween(30, 24 * 8);
  const whole = await server.buy(buyer, far.id, 1);
  const flaky = await server.buy(buyer, far.id, 1);
  const partly = await server.buy(buyer, far.id, 2);
  await server.api(`/api/v1/admin/orders/${partly.order.id}/refund`, {
    method: "POST",
    token: admin.token,
    body: { ticket_ids: [partly.tickets[0].id], reason: "e2e" },
  });
  const listed = await server.api("/api/v1/orders", { token: buyer.token });
  const offered = (id) => Boolean(listed.items.find((item) => item.order.id === id)?.cancellable_until);
  assert.ok(offered(whole.order.id) && offered(flaky.order.id), "confirmed orders far ahead may be cancelled");

  const page = await newPage(browser);
  await logIn(page, server.base, buyer);
  await page.goto(`${server.base}/tickets`);
  const dialog = page.getByRole("dialog", { name: "Cancel this order?" });

  // A partially refunded order: the button exactly when the server offers a cancellation; its
  // dialog speaks of the remaining ticket only.
  const part = page.locator(`#order-${partly.order.id}`);
  await part.getByText("Partially refunded", { exact: true }).waitFor();
  const partButton = part.getByRole("button", { name: /^Cancel order/ });
  assert.equal(await partButton.count(), offered(partly.order.id) ? 1 : 0, "partially refunded: button iff cancellable_until");
  if (offered(partly.order.id)) {
    await partButton.click();
    await dialog.waitFor();
    assert.match(await dialog.textContent(), new RegExp(`Your remaining ticket \\(${partly.tickets[1].label}\\)`));
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
  }

  // The server refuses (the deadline passed meanwhile): the dialog explains, offers only to
  // close, and Escape closes it; the order then says cancellation is closed.
  await page.route(`**/api/v1/orders/${whole.order.id}/cancel`, (route) =>
    route.fulfill({
      status: 409,
      contentType: "application/problem+json",
      body: JSON.stringify({ title: "Conflict", status: 409, code: "refund_window_closed", detail: "orders can be cancelled until 24 hours before the show" }),
    }));
  const order = page.locator(`#order-${whole.order.id}`);
  await order.getByRole("button", { name: /^Cancel order/ }).click();
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Cancel order and refund" }).click();
  await dialog.getByRole("alert").filter({ hasText: "The order was not cancelled" }).waitFor();
  assert.equal(await dialog.getByRole("button", { name: "Cancel order and refund" }).count(), 0, "nothing left to confirm");
  await dialog.getByRole("button", { name: "Close" }).waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  await order.getByText("Cancellation closed").waitFor();
  assert.equal(await order.getByRole("button", { name: /^Cancel order/ }).count(), 0);

  // A server error: nothing is decided, the button can be pressed again, and a click beside
  // the dialog closes it.
  await page.route(`**/api/v1/orders/${flaky.order.id}/cancel`, (route) =>
    route.fulfill({
      status: 503,
      contentType: "application/problem+json",
      body: JSON.stringify({ title: "Service Unavailable", status: 503, code: "database_unavailable", detail: "the database is unavailable" }),
    }));
  const flakyOrder = page.locator(`#order-${flaky.order.id}`);
  await flakyOrder.getByRole("button", { name: /^Cancel order/ }).click();
  await dialog.getByRole("button", { name: "Cancel order and refund" }).click();
  await dialog.getByRole("alert").filter({ hasText: "The order was not cancelled" }).waitFor();
  assert.equal(await dialog.getByRole("button", { name: "Cancel order and refund" }).isEnabled(), true);
  await page.mouse.click(5, 5);
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await flakyOrder.getByRole("button", { name: /^Cancel order/ }).count(), 1);

  const after = await server.api("/api/v1/orders", { token: buyer.token });
  for (const id of [whole.order.id, flaky.order.id]) {
    assert.equal(after.items.find((item) => item.order.id === id).order.status, "confirmed");
  }
  assertClean(page, [`409 /api/v1/orders/${whole.order.id}/cancel`, `503 /api/v1/orders/${flaky.order.id}/cancel`]);
  await page.context().close();
});

test("My tickets on a phone: nothing wider than the screen, codes readable", async () => {
  const buyer = await server.user("phone");
  const [far] = await showtimesBetween(30, 24 * 8);
  const purchase = await server.buy(buyer, far.id, 2);
  const page = await newPage(browser, { viewport: { width: 375, height: 740 }, mobile: true });
  await logIn(page, server.base, buyer);
  await page.goto(`${server.base}/tickets`);
  const qr = page.getByRole("img", { name: `QR code for ${purchase.tickets[1].label}`, exact: true });
  await qr.waitFor();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 375, "no sideways scrolling");
  await page.getByRole("button", { name: `Show code for ${purchase.tickets[1].label}` }).click();
  const large = page.getByRole("dialog").getByRole("img", { name: `QR code for ${purchase.tickets[1].label}` });
  await eventually(async () => {
    const box = await large.boundingBox();
    assert.ok(box && box.width >= 250 && box.x >= 0 && box.x + box.width <= 375, `large code fits: ${JSON.stringify(box)}`);
  });
  await screenshot(page, "my-tickets-phone");
  assertClean(page);
  await page.context().close();
});

test("on a 390 px phone the signed-in header leaves no gap where the e-mail is hidden", async () => {
  const account = await server.user("narrow");
  const page = await newPage(browser, { viewport: { width: 390, height: 844 }, mobile: true });
  await signIn(page, server.base, account);
  await page.goto(`${server.base}/`);
  const logOut = header(page).getByRole("button", { name: "Log out" });
  await logOut.waitFor();
  // On a phone the e-mail moves to Log out's tooltip.
  assert.equal(await header(page).getByText(account.email).isVisible(), false);
  assert.equal(await logOut.getAttribute("title"), `Signed in as ${account.email}`);
  await screenshot(page, "account-header-phone");

  const layout = await header(page).locator("ul").evaluate((list) => ({
    gap: parseFloat(getComputedStyle(list).columnGap),
    items: [...list.children].map((item) => {
      const box = item.getBoundingClientRect();
      return { text: item.innerText.trim(), laidOut: item.getClientRects().length > 0, left: box.left, right: box.right, top: box.top, width: box.width };
    }),
  }));
  // An item laid out with nothing to show would still take a gap on each side.
  assert.deepEqual(layout.items.filter((item) => item.laidOut && item.width === 0).map((item) => item.text), [],
    "no empty item in the header");
  const shown = layout.items.filter((item) => item.laidOut);
  assert.deepEqual(shown.map((item) => item.text), ["What's on", "My tickets", "Log out"]);
  // Neighbours on one line are exactly one gap apart.
  for (let i = 1; i < shown.length; i++) {
    if (Math.abs(shown[i].top - shown[i - 1].top) > 1) continue;
    const space = shown[i].left - shown[i - 1].right;
    assert.ok(Math.abs(space - layout.gap) < 0.5, `${shown[i - 1].text} to ${shown[i].text}: ${space}px, not ${layout.gap}px`);
  }
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390, "no sideways scrolling");
  assertClean(page);
});

test("My tickets loads older orders a page at a time", async () => {
  const buyer = await server.user("regular");
  const [show] = await showtimesBetween(30, 24 * 8);
  const orderIds = [];
  for (let i = 0; i < 11; i++) orderIds.push((await server.buy(buyer, show.id, 1)).order.id);
  const page = await newPage(browser);
  await logIn(page, server.base, buyer);
  await page.goto(`${server.base}/tickets`);
  const more = page.getByRole("button", { name: "Load more orders" });
  await more.waitFor();
  const articles = page.locator("article.order");
  assert.equal(await articles.count(), 10, "one page of ten");
  assert.equal(await articles.first().getAttribute("id"), `order-${orderIds[10]}`, "the newest first");
  await more.click();
  await eventually(async () => assert.equal(await articles.count(), 11));
  await more.waitFor({ state: "hidden" });
  assert.equal(await articles.nth(10).getAttribute("id"), `order-${orderIds[0]}`, "the oldest last");
  await eventually(async () =>
    assert.equal(await page.evaluate(() => document.activeElement?.closest("article")?.id), `order-${orderIds[0]}`),
  );
  assertClean(page);
  await page.context().close();
});

test("repeated wrong passwords are throttled with a wait time", async () => {
  const account = await server.user("forgetful");
  const page = await newPage(browser);
  await page.goto(`${server.base}/login`);
  await page.getByLabel("Email").fill(account.email);
  const alert = page.getByRole("alert");
  const button = page.locator("#submit");
  // Five failures are free; then each attempt must wait (1 s, 2 s, …).
  let throttled = false;
  for (let attempt = 1; attempt <= 8 && !throttled; attempt++) {
    await page.getByLabel("Password").fill(`wrong password ${attempt}`);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/web/login") && r.request().method() === "POST"),
      page.getByRole("button", { name: "Log in" }).click(),
    ]);
    if (response.status() === 429) {
      throttled = true;
      await alert.filter({ hasText: "Too many attempts" }).waitFor();
    } else {
      assert.equal(response.status(), 401);
      await alert.filter({ hasText: "Wrong email or password" }).waitFor();
      await eventually(async () => assert.equal(await button.isEnabled(), true));
    }
  }
  assert.ok(throttled, "the page says to wait");
  assert.match(await alert.textContent(), /please wait \d+ seconds?/);
  const waiting = page.getByRole("button", { name: "Please wait…" });
  assert.equal(await waiting.isDisabled(), true, "no attempts while waiting");
  // After the wait the button comes back.
  await page.getByText("You can try again now.").waitFor({ timeout: 20_000 });
  assert.equal(await page.getByRole("button", { name: "Log in" }).isEnabled(), true);
  assertClean(page, ["401 /api/v1/auth/web/login", "429 /api/v1/auth/web/login"]);
  await page.context().close();
});
