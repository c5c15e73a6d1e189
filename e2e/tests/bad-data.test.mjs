// Pages survive bad data from the API: a venue whose time zone no browser knows (stored before
// the server checked zones against the IANA database) must not break What's on, the event page
// or the seat map for anyone. Times then show in the visitor's own zone.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { startServer, launchBrowser, newPage, assertClean } from "../harness.mjs";

let server;
let browser;
const made = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const admin = await server.admin();
  const as = (path, body) => server.api(path, { method: "POST", token: admin.token, body });
  const venue = await as("/api/v1/admin/venues", { name: "Olympus Mons Drive-In", city: "Tharsis", time_zone: "UTC" });
  const hall = await as(`/api/v1/admin/venues/${venue.id}/halls`, {
    name: "Crater 1",
    layout: { sections: [{ name: "Stalls", kind: "seated", rows: [{ label: "A", category: "standard", seats: 4 }] }] },
  });
  const movie = await as("/api/v1/admin/events", { kind: "movie", title: "Red Dust", synopsis: "A long way from home.", genres: ["sci-fi"] });
  const startsAt = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const showtime = await as("/api/v1/admin/showtimes", {
    event_id: movie.id, hall_id: hall.id, starts_at: startsAt, currency: "EUR", prices: { standard: 1000 },
  });
  // What the server now refuses (422), as an older database may still hold it.
  const refused = await fetch(`${server.base}/api/v1/admin/venues`, {
    method: "POST",
    headers: { Authorization: `Bearer ${admin.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "X", city: "Y", time_zone: "Mars/Olympus" }),
  });
  assert.equal(refused.status, 422);
  const sql = `UPDATE venues SET time_zone = 'Mars/Olympus' WHERE id = '${venue.id}'`;
  const updated = spawnSync("sqlite3", [join(server.dir, "marquee.db"), sql], { encoding: "utf8" });
  assert.equal(updated.status, 0, updated.stderr);
  Object.assign(made, { movie, showtime });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a venue time zone the browser does not know breaks no page", async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/?city=Tharsis`);
  await page.getByRole("region", { name: "Events" }).getByRole("link", { name: "Red Dust" }).waitFor();

  await page.goto(`${server.base}/events/${made.movie.id}`);
  await page.getByRole("heading", { level: 1, name: "Red Dust" }).waitFor();
  const showtimes = page.getByRole("region", { name: "Showtimes" });
  await showtimes.getByRole("link", { name: /Olympus Mons Drive-In/ }).waitFor();

  await page.goto(`${server.base}/showtimes/${made.showtime.id}`);
  await page.getByRole("checkbox", { name: /Stalls A1/ }).waitFor();
  assertClean(page);
});
