// Shared by every page: the API client (cookie session + CSRF header), the signed-in user and
// the navigation, a small DOM builder, formatting, and placeholder posters.
//
// Pages import what they need: `import { api, h, money } from "/assets/app.js";`

/** An error answer of the API: an RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `request failed (${status})`);
    this.status = status;
    this.code = problem?.code || "";
    this.problem = problem || {};
  }
}

/** The CSRF token of the cookie session (`__Host-marquee_csrf` over HTTPS, `marquee_csrf` on localhost). */
export function csrfToken() {
  const cookies = document.cookie.split(";").map((c) => c.trim());
  for (const name of ["__Host-marquee_csrf=", "marquee_csrf="]) {
    const match = cookies.find((c) => c.startsWith(name));
    if (match) return decodeURIComponent(match.slice(name.length));
  }
  return "";
}

/** A fresh idempotency key. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Calls the API with the browser's session cookie. Writes carry the CSRF header, and the
 * `idempotencyKey` option when given; `headers` adds others (e.g. `X-Admission-Token`). Resolves to the parsed JSON (or null for 204), rejects
 * with an ApiError for problem answers and a plain Error when the network fails.
 */
export async function api(path, { method = "GET", body, idempotencyKey, signal, headers: extra } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const csrf = csrfToken();
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Error("The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  let data = null;
  try {
    data = type.includes("json") ? await response.json() : await response.text();
  } catch (error) {
    // A request aborted while its body was read is aborted, not an empty answer.
    if (error.name === "AbortError" || signal?.aborted) throw error;
    if (response.ok) throw new Error("The server's answer could not be read. Try again.");
  }
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
  return data;
}

let userPromise;
/**
 * The signed-in user ({id, email, role}) or null; asked once per page. Without the CSRF cookie
 * there is no session to ask about (both cookies are set and cleared together).
 */
export function currentUser() {
  if (!csrfToken()) return Promise.resolve(null);
  userPromise ??= api("/api/v1/me").catch((error) => {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  });
  return userPromise;
}

/** Sends a visitor who is not signed in to the login page, coming back here afterwards. */
export async function requireUser(roles) {
  const user = await currentUser();
  if (!user) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return new Promise(() => {});
  }
  if (roles && !roles.includes(user.role)) {
    throw new Error(`This page is for ${roles.join(" or ")} accounts; you are signed in as ${user.email}.`);
  }
  return user;
}

/**
 * Builds an element: `h("a", { href: "/", class: "x", onclick: fn }, "text", child)`.
 * Text is always set as text, never parsed as HTML.
 */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "text") element.textContent = value;
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Money in minor units, as the browser's locale writes it: `{amount: 1250, currency: "EUR"}` → "€12.50". */
export function money(value) {
  if (!value) return "";
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: value.currency }).resolvedOptions()
    .maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency: value.currency }).format(
    value.amount / 10 ** digits,
  );
}

/** Hours as the visitor's locale writes them: "16:05" / "02:05", or "4:05 PM". */
const HOUR = new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions().hour12 ? "numeric" : "2-digit";

/**
 * A formatter in a time zone; a zone this browser does not know (bad data from the API) falls
 * back to the browser's own zone instead of throwing, so a page never stops at a RangeError.
 */
const formats = new Map();
export function formatIn(locale, options, timeZone) {
  const key = JSON.stringify([locale, options, timeZone]);
  let format = formats.get(key);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      format = new Intl.DateTimeFormat(locale, options);
    }
    formats.set(key, format);
  }
  return format;
}

/** A date and time in the venue's time zone when known (else the browser's). */
export function dateTime(iso, timeZone) {
  return formatIn(undefined, { weekday: "short", day: "numeric", month: "short", hour: HOUR, minute: "2-digit" }, timeZone)
    .format(new Date(iso));
}

export function dayLabel(iso, timeZone) {
  return formatIn(undefined, { weekday: "long", day: "numeric", month: "long" }, timeZone).format(new Date(iso));
}

export function timeOfDay(iso, timeZone) {
  return formatIn(undefined, { hour: HOUR, minute: "2-digit" }, timeZone).format(new Date(iso));
}

/** The local calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function dayKey(iso, timeZone) {
  return formatIn("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" }, timeZone).format(new Date(iso));
}

/**
 * How far the server's clock is from this device's, in milliseconds, from the Date header of
 * one small answer (whole seconds, so only a difference of more than two seconds counts; 0 when
 * it cannot tell). Countdowns and sale times add it to Date.now().
 */
export async function serverSkew() {
  try {
    const sent = Date.now();
    const response = await fetch("/healthz", { cache: "no-store" });
    const received = Date.now();
    const date = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(date)) return 0;
    const difference = date + 500 - (sent + received) / 2;
    return Math.abs(difference) > 2000 ? difference : 0;
  } catch {
    return 0;
  }
}

/** Tells screen readers about a change (a polite live region). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

/** A message box for an error (role=alert, so it is read out at once). */
export function errorBox(error) {
  const text = error instanceof Error ? error.message : String(error);
  return h("div", { class: "notice error", role: "alert" }, text);
}

/** Shows an error in a container, replacing its content. */
export function showError(container, error) {
  replace(container, errorBox(error));
}

/** The n-th segment of the path: `/events/evt_1` → segment(1) = "evt_1". */
export function segment(n) {
  return decodeURIComponent(location.pathname.split("/").filter(Boolean)[n] || "");
}

export function setTitle(text) {
  document.title = `${text} · Marquee`;
}

function hash(text) {
  let value = 2166136261;
  for (const char of text) value = Math.imul(value ^ char.codePointAt(0), 16777619);
  return value >>> 0;
}

/** A placeholder poster drawn from the event's title: the same art every time, no network. */
export function poster(event, { width = 200, height = 300 } = {}) {
  const seed = hash(event.title || event.id || "");
  const hue = seed % 360;
  const hue2 = (hue + 40 + ((seed >> 9) % 80)) % 360;
  const id = `g${seed.toString(36)}`;
  const words = (event.title || "").split(/\s+/).filter(Boolean);
  const lines = [];
  for (const word of words) {
    const last = lines[lines.length - 1];
    if (last && (last + " " + word).length <= 12) lines[lines.length - 1] = last + " " + word;
    else lines.push(word);
  }
  const shown = lines.slice(0, 4);
  // Long words shrink the title so that it stays on the poster (about 0.6 em per character).
  const longest = Math.max(1, ...shown.map((line) => line.length));
  const titleSize = Math.min(22, Math.floor(168 / (0.6 * longest)));
  const mark = event.kind === "concert" ? "♪" : "▶";
  return s("svg", { viewBox: "0 0 200 300", width, height, class: "poster", role: "img", "aria-label": `Poster: ${event.title}` },
    s("defs", {}, s("linearGradient", { id, x1: 0, y1: 0, x2: 1, y2: 1 },
      s("stop", { offset: "0", "stop-color": `hsl(${hue} 60% 32%)` }),
      s("stop", { offset: "1", "stop-color": `hsl(${hue2} 70% 18%)` }))),
    s("rect", { width: 200, height: 300, fill: `url(#${id})` }),
    s("circle", { cx: 150 + (seed % 30), cy: 70 + ((seed >> 5) % 40), r: 40 + ((seed >> 3) % 30), fill: `hsl(${hue2} 80% 60% / 0.35)` }),
    s("text", { x: 16, y: 48, fill: "#fff", "font-size": 30, "font-family": "system-ui, sans-serif", opacity: 0.85 }, mark),
    shown.map((line, i) =>
      s("text", { x: 16, y: 210 - (shown.length - 1 - i) * (titleSize + 4), fill: "#fff", "font-size": titleSize, "font-weight": 700,
        "font-family": "system-ui, sans-serif" }, line)),
    s("text", { x: 16, y: 276, fill: "#fff", "font-size": 13, opacity: 0.8, "font-family": "system-ui, sans-serif" },
      event.kind === "concert" ? (event.artist || "Live") : (event.genres || []).slice(0, 2).join(" · ")),
  );
}

/**
 * The event's poster: its image when the page may show it (the Content-Security-Policy allows
 * images from this site only), else — or when it fails to load — the drawn placeholder.
 */
export function posterFor(event, size = { width: 200, height: 300 }, { lazy = false } = {}) {
  const url = event.poster_url;
  let allowed = false;
  try {
    const parsed = url ? new URL(url, location.href) : null;
    allowed = !!parsed && (parsed.origin === location.origin || parsed.protocol === "data:");
  } catch {
    allowed = false;
  }
  if (!allowed) return poster(event, size);
  const image = h("img", {
    src: url, alt: `Poster: ${event.title}`, width: size.width, height: size.height, class: "poster",
    loading: lazy ? "lazy" : undefined, decoding: lazy ? "async" : undefined,
  });
  image.addEventListener("error", () => image.replaceWith(poster(event, size)), { once: true });
  return image;
}

/** Fills the header: who is signed in, the links for their role, and the log-out button. */
async function initNav() {
  let user = null;
  try {
    user = await currentUser();
  } catch {
    return;
  }
  for (const item of document.querySelectorAll("[data-signed-in]")) item.hidden = !user;
  for (const item of document.querySelectorAll("[data-signed-out]")) item.hidden = !!user;
  for (const item of document.querySelectorAll("[data-role]")) {
    const wanted = item.dataset.role;
    item.hidden = !user || !(user.role === "admin" || (wanted === "staff" && user.role === "staff"));
  }
  const who = document.getElementById("who");
  if (who && user) who.textContent = user.email;
  if (user) document.getElementById("logout")?.setAttribute("title", `Signed in as ${user.email}`);
  for (const link of document.querySelectorAll("#nav a")) {
    const href = link.getAttribute("href");
    if (href === location.pathname || (href !== "/" && location.pathname.startsWith(href + "/"))) {
      link.setAttribute("aria-current", "page");
    }
  }
  document.getElementById("logout")?.addEventListener("click", async () => {
    try {
      await api("/api/v1/auth/web/logout", { method: "POST" });
    } finally {
      location.assign("/");
    }
  });
}

initNav();
