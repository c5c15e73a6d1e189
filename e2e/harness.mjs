// The e2e harness: starts the real `marquee` binary on a free port with a fresh SQLite
// database (demo catalog loaded), and Debian's Chromium through playwright-core.
//
// MARQUEE_BIN picks the binary (default: target/debug/marquee of this checkout);
// CHROMIUM_PATH the browser (default /usr/bin/chromium).

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = process.env.MARQUEE_BIN || join(ROOT, "target", "debug", "marquee");

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a server. `args` are extra command-line flags (e.g. `--hold-ttl-secs 30`).
 * Returns { base, dir, api, admin(), user(), staff(), stop() }.
 */
export async function startServer({ args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "marquee-e2e-"));
  const database = `sqlite://${join(dir, "marquee.db")}`;
  const port = await freePort();
  const log = openSync(join(dir, "server.log"), "a");
  const child = spawn(BIN, ["--listen", `127.0.0.1:${port}`, "--database-url", database, ...args], {
    cwd: dir,
    stdio: ["ignore", log, log],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  const base = `http://127.0.0.1:${port}`;
  let exited = null;
  child.on("exit", (code) => (exited = code));
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`marquee exited with ${exited}; see ${dir}/server.log`);
    try {
      const response = await fetch(`${base}/readyz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`marquee did not become ready; see ${dir}/server.log`);
    await sleep(100);
  }

  /** Calls the API with a bearer token (test set-up; the browser uses cookies). */
  async function api(path, { method = "GET", body, token, key } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    if (key) headers["Idempotency-Key"] = key;
    const response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return data;
  }

  let userCount = 0;
  /** Registers a customer; returns { email, password, token, id }. */
  async function user(prefix = "buyer") {
    userCount += 1;
    const email = `${prefix}${userCount}-${port}@example.com`;
    const password = "a long test password";
    const out = await api("/api/v1/auth/register", { method: "POST", body: { email, password } });
    return { email, password, token: out.token, id: out.user.id };
  }

  /** The first admin, made with `marquee admin create` as an operator would. */
  async function admin() {
    const email = `boss-${port}@example.com`;
    const password = "a long admin password";
    const made = spawnSync(BIN, ["admin", "create", "--email", email, "--database-url", database], {
      cwd: dir,
      input: `${password}\n`,
      encoding: "utf8",
    });
    if (made.status !== 0) throw new Error(`admin create failed: ${made.stderr}`);
    const out = await api("/api/v1/auth/login", { method: "POST", body: { email, password } });
    return { email, password, token: out.token };
  }

  /** A staff member (door), promoted by the given admin. */
  async function staff(adminAccount) {
    const account = await user("door");
    await api(`/api/v1/admin/users/${account.id}/role`, {
      method: "PUT",
      token: adminAccount.token,
      body: { role: "staff" },
    });
    return account;
  }

  async function stop() {
    if (exited === null) {
      child.kill("SIGTERM");
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) child.kill("SIGKILL");
    }
    if (!process.env.E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  }

  const taken = new Set();
  /**
   * Buys `count` free seated tickets of a showtime for `account` through the API (hold, then
   * pay with `card`); returns the purchase ({order, tickets}). Seats bought here before are
   * skipped, since a cached seat map may be a moment old.
   */
  async function buy(account, showtimeId, count = 1, card = "tok_visa") {
    const map = await api(`/api/v1/showtimes/${showtimeId}/seats`);
    const ticketIds = map.tickets
      .filter((t) => t.row && t.status === "available" && !taken.has(t.id))
      .slice(0, count)
      .map((t) => t.id);
    for (const id of ticketIds) taken.add(id);
    const hold = await api("/api/v1/holds", {
      method: "POST",
      token: account.token,
      body: { showtime_id: showtimeId, ticket_ids: ticketIds },
    });
    return api("/api/v1/orders", {
      method: "POST",
      token: account.token,
      key: `pay-${hold.id}`,
      body: { hold_id: hold.id, payment_token: card },
    });
  }

  return { base, dir, api, user, admin, staff, buy, stop };
}

/** Headless Chromium with the flags this closed network needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A fresh browser context (its own cookies) and page. Console errors and failed requests of
 * our own origin are collected in `page.problems`, so a test can assert that none happened.
 * The visitor is in Berlin, where the demo venues are, unless `timezoneId` says otherwise.
 */
export async function newPage(browser, { viewport = { width: 1280, height: 900 }, mobile = false, timezoneId = "Europe/Berlin" } = {}) {
  const context = await browser.newContext({
    viewport,
    isMobile: mobile,
    hasTouch: mobile,
    locale: "en-GB",
    timezoneId,
  });
  const page = await context.newPage();
  page.problems = [];
  // Answers of 400 and above, as "STATUS /path", so a test can allow exactly those it provokes.
  page.failures = [];
  page.on("response", (response) => {
    if (response.status() >= 400) page.failures.push(`${response.status()} ${new URL(response.url()).pathname}`);
  });
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(`console: ${message.text()}`);
  });
  page.setDefaultTimeout(15_000);
  return page;
}

/**
 * Asserts a page had no console errors and no failed requests but the `allowed` ones
 * ("401 /api/v1/auth/web/login", …). Chromium logs each failed request as a console error;
 * those count as the request's.
 */
export function assertClean(page, allowed = []) {
  const expected = new Set(allowed);
  assert.deepEqual(page.failures.filter((f) => !expected.has(f)), [], "unexpected failed requests");
  const loads = /Failed to load resource: the server responded with a status of/;
  assert.deepEqual(page.problems.filter((p) => !loads.test(p)), [], "console errors");
  assert.ok(page.problems.filter((p) => loads.test(p)).length <= page.failures.length, page.problems.join("; "));
}

/** Retries `check` until it stops throwing (web-first assertions for node:test). */
export async function eventually(check, { timeout = 10_000, interval = 100 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > end) throw error;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
}

/** Logs a browser context in with the cookie session, as the login page does (for set-up). */
export async function signIn(page, base, account) {
  const response = await page.request.post(`${base}/api/v1/auth/web/login`, {
    data: { email: account.email, password: account.password },
  });
  assert.equal(response.status(), 200, `web login: ${await response.text()}`);
}

/** Logs a browser in through the login page. */
export async function logIn(page, base, account) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(account.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** The screenshots docs/ keeps (docs/README.md and the README show them). */
const DOCUMENTED = new Set([
  "whats-on", "event", "seat-map", "seat-map-phone", "buy-seat-map-arena-phone", "buy-waiting-room",
  "buy-checkout", "buy-checkout-declined-phone", "my-tickets", "admin-hall-editor", "admin-dashboard",
  "door-admitted",
]);

/**
 * Saves a screenshot into docs/screenshots: with SCREENSHOTS=1 the documented ones, with
 * SCREENSHOTS=all every one the tests take (to look at, not to commit).
 */
export async function screenshot(page, name) {
  const wanted = process.env.SCREENSHOTS;
  if (!wanted || (wanted !== "all" && !DOCUMENTED.has(name))) return;
  await page.screenshot({ path: join(ROOT, "docs", "screenshots", `${name}.png`), fullPage: false });
}

const AXE_SOURCE = await import("node:fs").then((fs) =>
  fs.readFileSync(join(ROOT, "e2e", "node_modules", "axe-core", "axe.min.js"), "utf8"),
);

/**
 * Runs the axe-core accessibility audit (WCAG 2.1 A and AA rules) on the page as it is now and
 * returns its serious and critical violations, each as "rule: target (summary)".
 * It is evaluated through the DevTools protocol, so the page's CSP does not block it.
 */
export async function accessibilityProblems(page) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")} (${n.failureSummary.split("\n")[1] || ""})`),
    }));
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.join("; ")}`);
}
