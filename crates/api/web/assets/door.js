// The door: staff and admins check ticket codes in, each exactly once.
//
// A code (what a ticket's QR code holds: `MQ1.<payload>.<signature>`) is typed, pasted or
// "typed" by a handheld scanner and sent to POST /api/v1/checkin, with the showtime this door
// admits to when one is chosen (remembered on this device). The answer is shown big and in
// words: ADMITTED, ALREADY ADMITTED or INVALID (and CHECK FAILED when the server could not
// be asked, which says nothing about the ticket). The last checks are listed below.
//
// When the answer to a check is lost (the connection dropped, or the server failed), the
// ticket may have been admitted all the same: if the next check of that code says ALREADY
// ADMITTED at about the time of the lost one, it says that this was most likely this device's
// own scan rather than telling the staff not to admit the guest in front of them.
//
// The showtime picker lists what this door may admit to now (GET /checkin/showtimes: from 12 h
// ago to 36 h ahead, whatever their sale window or publication), today's first, grouped by day.
// Showtimes are given in their venue's time (its zone named when the device is elsewhere);
// the times of the checks (the history, "first admitted") are all on this device's clock.

import {
  api, ApiError, requireUser, h, replace, dateTime, dayLabel, dayKey, errorBox, serverSkew,
} from "/assets/app.js";

const STORE_KEY = "marquee.door.showtime";
const HISTORY_SIZE = 15;
const deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const app = document.getElementById("door-app");
const problem = document.getElementById("problem");
const form = document.getElementById("checkin-form");
const select = document.getElementById("showtime");
const input = document.getElementById("code");
const result = document.getElementById("result");
const historyList = document.getElementById("history");
const historyEmpty = document.getElementById("history-empty");
const tally = document.getElementById("tally");

const showtimes = new Map(); // id → Promise<showtime | null>
const labels = new Map(); // ticket id → seat label, for tickets admitted on this device
const history = [];
const counts = { admitted: 0, already: 0, invalid: 0 };
const unanswered = new Map(); // code → { sent, lost }: device times of a check whose answer was lost
let queue = Promise.resolve();
let checks = 0;
let skew = 0; // the server's clock minus this device's, in ms

function remembered() {
  try {
    return localStorage.getItem(STORE_KEY) || "";
  } catch {
    return "";
  }
}

function remember(id) {
  try {
    if (id) localStorage.setItem(STORE_KEY, id);
    else localStorage.removeItem(STORE_KEY);
  } catch {
    // Storage unavailable (private mode): the choice lasts for this page only.
  }
}

function showtimeOf(id) {
  if (!id) return Promise.resolve(null);
  if (!showtimes.has(id)) {
    showtimes.set(id, api(`/api/v1/showtimes/${encodeURIComponent(id)}`).catch(() => null));
  }
  return showtimes.get(id);
}

/** "Wed 25 Nov, 20:00", in the venue's zone, named when this device is in another one. */
function venueWhen(showtime) {
  const tz = showtime.venue.time_zone;
  const text = dateTime(showtime.starts_at, tz);
  return tz && tz !== deviceZone ? `${text} ${zoneName(tz, showtime.starts_at)}` : text;
}

/** A zone's short name at an instant ("CET", or "GMT+1" where there is none). */
function zoneName(timeZone, iso) {
  try {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone, timeZoneName: "short" }).formatToParts(new Date(iso || Date.now()));
    return parts.find((part) => part.type === "timeZoneName")?.value || timeZone;
  } catch {
    return timeZone;
  }
}

function describe(showtime) {
  if (!showtime) return "";
  return `${showtime.event_title} · ${venueWhen(showtime)} · ${showtime.venue.name}, ${showtime.hall}`;
}

/**
 * What a code names: {ticketId, orderId, showtimeId}, or null when it is not readable. Only
 * used for display after the server has verified the signature (409, wrong showtime).
 */
function claimsOf(code) {
  const parts = code.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const text = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    const [ticketId, orderId, showtimeId] = text.split("|");
    return showtimeId ? { ticketId, orderId, showtimeId } : null;
  } catch {
    return null;
  }
}

// ----- the showtime picker -----

/** The option names the day too, so the closed select says which day's showtime it is. */
function optionText(showtime) {
  return `${venueWhen(showtime)} · ${showtime.event_title} · ${showtime.venue.name}, ${showtime.hall}`;
}

/** "Today · Wednesday 25 November", "Tomorrow · …", "Yesterday · …" or the day alone. */
function dayGroupLabel(key, iso, tz) {
  const today = dayKey(new Date(Date.now() + skew).toISOString(), tz);
  const offset = Math.round((Date.parse(`${key}T12:00:00Z`) - Date.parse(`${today}T12:00:00Z`)) / 86_400_000);
  const word = { 0: "Today", 1: "Tomorrow", [-1]: "Yesterday" }[offset];
  return word ? `${word} · ${dayLabel(iso, tz)}` : dayLabel(iso, tz);
}

/** Days in the order a door wants them: today, then the days ahead, then the days before. */
function dayOrder(today) {
  return ([a], [b]) => {
    const rank = (key) => (key === today ? 0 : key > today ? 1 : 2);
    return rank(a) - rank(b) || (rank(a) === 2 ? b.localeCompare(a) : a.localeCompare(b));
  };
}

async function doorShowtimes() {
  try {
    return (await api("/api/v1/checkin/showtimes")).items;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      // An older server without the door's list: the public one (on sale, upcoming).
      return (await api("/api/v1/showtimes?limit=100")).items;
    }
    throw error;
  }
}

async function loadShowtimes() {
  const saved = remembered();
  let items = [];
  try {
    items = await doorShowtimes();
  } catch (error) {
    problem.append(h("div", { class: "notice warn", role: "status" },
      `The list of showtimes could not be loaded (${error.message}). You can still check tickets in for any showtime.`));
  }
  // The chosen showtime stays selectable when it has left the list (e.g. it started long ago).
  if (saved && !items.some((item) => item.id === saved)) {
    const earlier = await showtimeOf(saved);
    if (earlier && !earlier.cancelled_at) items.push(earlier);
  }
  items.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  const groups = new Map();
  let today = null;
  for (const showtime of items) {
    showtimes.set(showtime.id, Promise.resolve(showtime));
    const tz = showtime.venue.time_zone;
    today ??= dayKey(new Date(Date.now() + skew).toISOString(), tz);
    const key = dayKey(showtime.starts_at, tz);
    if (!groups.has(key)) groups.set(key, h("optgroup", { label: dayGroupLabel(key, showtime.starts_at, tz) }));
    groups.get(key).append(h("option", { value: showtime.id }, optionText(showtime)));
  }
  select.append(...[...groups.entries()].sort(dayOrder(today)).map(([, group]) => group));
  if (saved && items.some((item) => item.id === saved)) select.value = saved;
  else remember("");
}

select.addEventListener("change", () => {
  remember(select.value);
  const chosen = select.selectedOptions[0];
  showIdle(select.value ? `Checking tickets for ${chosen.textContent}.` : "Checking tickets for any showtime.");
});

// ----- results -----

const KINDS = {
  admitted: { word: "ADMITTED", icon: "✓", tone: "ok" },
  already: { word: "ALREADY ADMITTED", icon: "!", tone: "warn" },
  invalid: { word: "INVALID", icon: "✕", tone: "bad" },
  failed: { word: "CHECK FAILED", icon: "?", tone: "" },
};

/** A time on this device's clock ("16:02:11"), with the day when it is not today. */
function clock(date) {
  const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
  if (dayKey(date.toISOString()) === dayKey(new Date().toISOString())) return time;
  return `${new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" }).format(date)}, ${time}`;
}

/** An instant of the server's clock, as this device's clock showed it. */
function serverInstant(iso) {
  return new Date(Date.parse(iso) - skew);
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() + skew - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}

function showIdle(text) {
  result.className = "result idle";
  replace(result, h("p", { class: "result-word" }, "Ready"), h("p", { class: "result-detail" }, text));
}

/** Shows one outcome: big, in words and colour, and adds it to the history. */
function show(kind, { label, lines = [], action } = {}) {
  const spec = KINDS[kind];
  const at = new Date();
  checks += 1;
  result.className = `result ${kind}`;
  // Restart the flash, so two answers alike in a row are still seen to be two.
  void result.offsetWidth;
  result.classList.add("flash");
  replace(result,
    h("div", { class: "result-main" },
      h("span", { class: "result-icon", "aria-hidden": "true" }, spec.icon),
      h("div", {},
        h("p", { class: "result-word" }, spec.word),
        label ? h("p", { class: "result-label" }, label) : null)),
    lines.filter(Boolean).map((line) => h("p", { class: "result-detail" }, line)),
    h("p", { class: "result-when" }, `Check ${checks} at ${clock(at)}`),
    action || null);
  if (kind in counts) counts[kind] += 1;
  history.unshift({ kind, at, label, line: lines.filter(Boolean)[0] || "" });
  history.length = Math.min(history.length, HISTORY_SIZE);
  renderHistory();
}

function renderHistory() {
  historyEmpty.hidden = history.length > 0;
  replace(historyList, history.map((entry) => {
    const spec = KINDS[entry.kind];
    return h("li", { class: ["history-item", entry.kind] },
      h("time", { datetime: entry.at.toISOString() }, clock(entry.at)),
      h("span", { class: ["badge", spec.tone] }, spec.word),
      h("span", { class: "history-text" }, [entry.label, entry.line].filter(Boolean).join(" — ")));
  }));
  tally.textContent = `Admitted ${counts.admitted} · already admitted ${counts.already} · invalid ${counts.invalid}`;
}

async function check(code) {
  const showtimeId = select.value || null;
  result.className = "result checking";
  replace(result, h("p", { class: "result-word" }, "Checking…"));
  result.setAttribute("aria-busy", "true");
  const sent = Date.now();
  try {
    const body = showtimeId ? { code, showtime_id: showtimeId } : { code };
    const admitted = await api("/api/v1/checkin", { method: "POST", body });
    unanswered.delete(code);
    labels.set(admitted.ticket_id, admitted.label);
    const showtime = await showtimeOf(admitted.showtime_id);
    show("admitted", { label: admitted.label, lines: [describe(showtime)] });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status >= 500) {
      // No answer: the ticket may or may not have been admitted (from the first such check
      // until the last answer given up on).
      unanswered.set(code, { sent: unanswered.get(code)?.sent ?? sent, lost: Date.now() });
    }
    await showFailure(code, error);
  } finally {
    result.removeAttribute("aria-busy");
  }
}

/** How long around a lost check an admission is taken for that check's (clock drift, delays). */
const OWN_SCAN_MARGIN = 5000;

/**
 * The lost check of this code that most likely admitted the ticket at `admittedAt` (server
 * time), or null: it was sent before, and its answer given up on after, that admission.
 */
function ownLostCheck(code, admittedAt) {
  const lost = unanswered.get(code);
  unanswered.delete(code);
  const at = Date.parse(admittedAt || "");
  if (!lost || Number.isNaN(at)) return null;
  const from = lost.sent + skew - OWN_SCAN_MARGIN;
  const to = lost.lost + skew + OWN_SCAN_MARGIN;
  return at >= from && at <= to ? lost : null;
}

async function showFailure(code, error) {
  const claims = claimsOf(code);
  if (error instanceof ApiError) {
    // A verdict on the code itself: no earlier check of it admitted anything.
    if (["ticket_void", "wrong_showtime", "invalid_ticket_code"].includes(error.code)) unanswered.delete(code);
    switch (error.code) {
      case "already_checked_in": {
        const at = error.problem.admitted_at;
        const showtime = await showtimeOf(claims?.showtimeId);
        const own = ownLostCheck(code, at);
        if (own) {
          show("already", {
            label: "Most likely this device's own scan",
            lines: [
              `This device sent this code at ${clock(new Date(own.sent))} but got no answer; the ticket was admitted at ${clock(serverInstant(at))} (${ago(at)}), by that scan most likely.`,
              "If this is the guest whose ticket you just scanned, let them in.",
              describe(showtime),
            ],
          });
          return;
        }
        show("already", {
          label: (claims && labels.get(claims.ticketId)) || "Do not admit again",
          lines: [at ? `First admitted at ${clock(serverInstant(at))} (${ago(at)}).` : "This ticket was admitted before.", describe(showtime)],
        });
        return;
      }
      case "ticket_void":
        show("invalid", {
          label: "Ticket void",
          lines: ["This ticket was refunded (or resold); its code no longer admits.", describe(await showtimeOf(claims?.showtimeId))],
        });
        return;
      case "wrong_showtime": {
        const theirs = await showtimeOf(claims?.showtimeId);
        show("invalid", {
          label: "Wrong showtime",
          lines: [theirs ? `This ticket is for ${describe(theirs)}.` : "This ticket is for another showtime."],
        });
        return;
      }
      case "invalid_ticket_code":
        show("invalid", {
          label: "Unknown code",
          lines: ["Not a valid Marquee ticket: the code is forged, damaged or mistyped.", `(${error.message})`],
        });
        return;
      case "unauthenticated":
        show("failed", {
          label: "You are signed out",
          lines: ["The ticket was not checked."],
          action: h("a", { class: "button", href: `/login?next=${encodeURIComponent("/door")}` }, "Log in again"),
        });
        return;
      case "too_many_requests":
        show("failed", {
          label: "Too many checks",
          lines: [`The ticket was not checked. Wait ${error.problem.retry_after || "a few"} seconds, then scan it again.`],
        });
        return;
      default:
        break;
    }
  }
  show("failed", {
    label: "Not checked",
    lines: [`The ticket was not checked: ${error.message}`, "Scan it again or use the button."],
    action: h("button", { type: "button", class: "retry", onclick: () => submitCode(code) }, "Check this code again"),
  });
}

function submitCode(code) {
  queue = queue.then(() => check(code)).then(() => {
    if (document.activeElement !== select) input.focus();
  });
  return queue;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = input.value.trim();
  input.value = "";
  input.focus();
  if (!code) {
    showIdle("Type or scan a ticket code first.");
    return;
  }
  submitCode(code);
});

async function init() {
  let user;
  try {
    user = await requireUser(["staff", "admin"]);
  } catch (error) {
    replace(problem,
      h("div", { class: "notice error", role: "alert" },
        h("h2", {}, "Not allowed"),
        h("p", {}, error.message),
        h("p", {}, "Only staff and admins check tickets in. If you work the door, ask an admin to give your account the staff role."),
        h("p", {}, h("a", { href: "/tickets" }, "Go to my tickets"))));
    document.querySelector(".door-head p")?.setAttribute("hidden", "");
    return;
  }
  app.hidden = false;
  input.focus();
  serverSkew().then((value) => (skew = value));
  await loadShowtimes();
  const note = document.getElementById("zone-note");
  if (note) note.textContent = `Check times are on this device's clock (${zoneName(deviceZone)}).`;
  renderHistory();
  if (user && !history.length) {
    showIdle(select.value ? `Checking tickets for ${select.selectedOptions[0].textContent}.` : "Waiting for the first ticket.");
  }
}

init().catch((error) => replace(problem, errorBox(new Error(`The door page could not start: ${error.message}`))));
