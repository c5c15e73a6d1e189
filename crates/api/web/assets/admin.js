// The box office (/admin): venues, halls and their layouts, events, showtimes, the audit log
// and users. Admins only. The open section lives in the URL hash (#events, #showtimes/evt_…),
// so a reload or a shared link opens the same place.

import { api, h, replace, requireUser, errorBox, setTitle } from "/assets/app.js";
import { describe } from "/assets/admin-util.js";
import { renderVenues, renderHalls } from "/assets/admin-venues.js";
import { renderEvents } from "/assets/admin-events.js";
import { renderShowtimes } from "/assets/admin-showtimes.js";
import { renderAudit, renderUsers } from "/assets/admin-audit.js";

const SECTIONS = [
  { key: "venues", label: "Venues", render: renderVenues },
  { key: "halls", label: "Halls", render: renderHalls },
  { key: "events", label: "Events", render: renderEvents },
  { key: "showtimes", label: "Showtimes", render: renderShowtimes },
  { key: "audit", label: "Audit log", render: renderAudit },
  { key: "users", label: "Users", render: renderUsers },
];
const DEFAULT = "events";

/** Shared, cached lists: each is loaded once and reloaded after a change. */
function makeStore() {
  const cache = new Map();
  const load = (key, path) => {
    if (!cache.has(key)) {
      const promise = api(path);
      promise.catch(() => cache.delete(key));
      cache.set(key, promise);
    }
    return cache.get(key);
  };
  return {
    venues: () => load("venues", "/api/v1/admin/venues"),
    halls: (venueId) => load(`halls:${venueId}`, `/api/v1/admin/venues/${encodeURIComponent(venueId)}/halls`),
    events: () => load("events", "/api/v1/admin/events"),
    /** Every hall of every venue, with its venue: [{venue, hall}]. */
    async allHalls() {
      const venues = await this.venues();
      const lists = await Promise.all(venues.map((venue) => this.halls(venue.id)));
      return venues.flatMap((venue, k) => lists[k].map((hall) => ({ venue, hall })));
    },
    invalidate(prefix) {
      for (const key of [...cache.keys()]) if (key === prefix || key.startsWith(`${prefix}:`)) cache.delete(key);
    },
  };
}

async function main() {
  const app = document.getElementById("app");
  const nav = document.getElementById("admin-nav");
  let user;
  try {
    user = await requireUser(["admin"]);
  } catch (error) {
    app.classList.remove("loading");
    replace(app, errorBox(error), h("p", {}, "The box office needs an admin account. ", h("a", { href: "/" }, "Back to what's on")));
    return;
  }
  const store = makeStore();
  const links = new Map();
  replace(nav.querySelector("ul"), SECTIONS.map((section) => {
    const link = h("a", { href: `#${section.key}` }, section.label);
    links.set(section.key, link);
    return h("li", {}, link);
  }));
  nav.hidden = false;
  app.classList.remove("loading");

  let generation = 0;
  let first = true;
  async function route() {
    const [key, ...rest] = location.hash.replace(/^#/, "").split("/");
    const section = SECTIONS.find((item) => item.key === key) || SECTIONS.find((item) => item.key === DEFAULT);
    // A hand-edited or truncated link may hold a malformed escape ("%E0"): open the section
    // without its argument rather than fail.
    let arg = "";
    let malformed = false;
    try {
      arg = rest.map(decodeURIComponent).join("/");
    } catch {
      malformed = true;
    }
    for (const [name, link] of links) {
      if (name === section.key) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    setTitle(`${section.label} · Box office`);
    const mine = ++generation;
    const heading = h("h2", { tabindex: "-1", class: "section-title", id: `section-${section.key}` }, section.label);
    const body = h("div", { class: "section-body" }, h("p", { class: "loading" }, "Loading…"));
    const note = malformed
      ? h("p", { class: "notice warn", role: "status" }, `The link's address could not be read, so all ${section.label.toLowerCase()} are shown.`)
      : null;
    const view = h("section", { class: ["admin-section", `admin-${section.key}`], "aria-labelledby": heading.id }, heading, note, body);
    replace(app, view);
    if (!first) heading.focus();
    first = false;
    const ctx = {
      user,
      store,
      arg,
      heading,
      /** Still the section on screen (the admin did not move on meanwhile)? */
      current: () => mine === generation,
      /** Sets the hash argument without reloading the section. */
      setArg(value) {
        history.replaceState(null, "", `#${section.key}${value ? `/${encodeURIComponent(value)}` : ""}`);
      },
    };
    try {
      await section.render(body, ctx);
    } catch (error) {
      if (mine !== generation) return;
      replace(body, errorBox(`Could not load ${section.label.toLowerCase()}: ${describe(error)}`),
        h("p", {}, h("button", { type: "button", class: "secondary", onclick: route }, "Try again")));
    }
  }
  addEventListener("hashchange", route);
  await route();
}

main();
