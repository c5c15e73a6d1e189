// Checkout: what is held, a countdown to the hold's end, payment, and the confirmation.
//
// Paying is idempotent across double clicks, retries and reloads: the Pay button is disabled
// while a payment runs, and each hold keeps ONE Idempotency-Key in sessionStorage (with the
// card it was used for), so a retry after a lost connection, or a reload, re-sends the same
// request and can never charge twice. A definite "no" (card declined, card refused) ends that
// request: the next attempt, e.g. with another card, gets a new key. The server pays a hold at
// most once whatever the keys, so switching cards is safe too.
//
// Two refusals mean "not now" rather than "no": `payment_in_progress` (another attempt, e.g. in
// another tab, is paying for this hold: this request did nothing, so its key is dropped, and the
// page watches the hold until that attempt ends) and `idempotency_in_progress` (the first
// request with this very key is still running: the page asks again with the same key shortly,
// and gets that request's answer).
//
// "Change seats" releases the hold and goes back to the seat map with the same seats (or the
// same standing quantity) selected again, so the buyer edits the selection rather than leaving
// an invisible hold behind. The seat map keeps a list of the holds this browser made per
// showtime (sessionStorage `marquee:hold:<showtime>`); this page takes its hold off that list
// once it is paid, released or expired.

import {
  api, ApiError, announce, dateTime, h, money, newKey, replace, requireUser, segment, setTitle, timeOfDay, serverSkew,
} from "/assets/app.js";

const holdId = segment(1);
const app = document.getElementById("app");
const KEY_STORE = `marquee:pay:${holdId}`;

/** The test gateway's cards, for a server that does not describe them (GET /payments/config). */
const TEST_CARDS = [
  { token: "tok_visa", label: "Visa — succeeds", outcome: "succeeds" },
  { token: "tok_mastercard", label: "Mastercard — succeeds", outcome: "succeeds" },
  { token: "tok_chargeDeclined", label: "Declined card", outcome: "declined" },
  { token: "tok_insufficientFunds", label: "Insufficient funds", outcome: "declined" },
];

const st = {
  hold: null,
  showtime: null,
  config: null,
  skew: 0, // server clock minus ours, in ms
  paying: false, // a payment request is under way
  releasing: false, // a release request is under way
  checking: null, // the interval watching another payment attempt's outcome
  retry: null, // the timer of a retry with the same key (idempotency_in_progress)
  finished: false, // confirmed, expired or released: no more timer work
  spoken: new Set(),
};
const ui = {};

async function boot() {
  try {
    await requireUser();
    const [hold, config, skew] = await Promise.all([
      api(`/api/v1/holds/${encodeURIComponent(holdId)}`),
      paymentConfig(),
      serverSkew(),
    ]);
    st.hold = hold;
    st.config = config;
    st.skew = skew;
    st.showtime = await api(`/api/v1/showtimes/${encodeURIComponent(hold.showtime_id)}`).catch(() => null);
    if (st.showtime) setTitle(`Checkout · ${st.showtime.event_title}`);
    app.classList.remove("loading");
    app.removeAttribute("aria-busy");
    await show(hold);
    setInterval(tick, 1000);
    // Background tabs run timers late: catch up as soon as the page is seen again.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) tick();
    });
  } catch (error) {
    app.classList.remove("loading");
    app.removeAttribute("aria-busy");
    const text = error instanceof ApiError && error.status === 404
      ? "This booking was not found. It may belong to another account, or the link is wrong."
      : `Your booking could not be loaded: ${error.message}`;
    replace(app, h("div", { class: "notice error", role: "alert" }, text, " ", h("a", { href: "/" }, "Back to what's on")));
  }
}

async function paymentConfig() {
  try {
    const config = await api("/api/v1/payments/config");
    if (config.provider === "test" && !config.test_cards?.length) config.test_cards = TEST_CARDS;
    return config;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { provider: "test", test_cards: TEST_CARDS };
    return { provider: "unavailable", error };
  }
}

function now() {
  return Date.now() + st.skew;
}

function remaining() {
  return Date.parse(st.hold.expires_at) - now();
}

function clock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function mapLink() {
  return `/showtimes/${encodeURIComponent(st.hold.showtime_id)}`;
}

/** Takes this hold off the seat map's list of this browser's holds of the showtime. */
function forgetHold(showtimeId) {
  const key = `marquee:hold:${showtimeId}`;
  try {
    const saved = JSON.parse(sessionStorage.getItem(key) || "null");
    const list = (Array.isArray(saved) ? saved : saved ? [saved] : []).filter((x) => x && x.id !== holdId);
    if (list.length) sessionStorage.setItem(key, JSON.stringify(list));
    else sessionStorage.removeItem(key);
  } catch {
    // ignore
  }
}

const deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A time on the device's own clock for an instant of the server's clock ("01:21"). */
function localTime(iso) {
  return timeOfDay(new Date(Date.parse(iso) - st.skew).toISOString());
}

/** A date and time in the venue's zone, saying so when the device is in another one. */
function venueDateTime(iso) {
  const tz = st.showtime?.venue?.time_zone;
  const text = dateTime(iso, tz);
  return tz && tz !== deviceZone ? `${text} (${tz.split("/").pop().replace(/_/g, " ")} time)` : text;
}

/**
 * The cancellation rule, said before paying: "Free cancellation until Sat 29 Nov, 20:00" or
 * that the show is too close to cancel. Null when the rule is not known.
 */
function cancellationRule() {
  const hours = st.config?.cancellation_cutoff_hours;
  const starts = Date.parse(st.showtime?.starts_at || "");
  if (!Number.isFinite(hours) || Number.isNaN(starts)) return null;
  const cutoff = starts - hours * 3_600_000;
  if (now() < cutoff) {
    const until = venueDateTime(new Date(cutoff).toISOString());
    return { open: true, until, text: `Free cancellation until ${until}: cancel under My tickets for a full refund.` };
  }
  return {
    open: false,
    text: hours > 0
      ? `This show starts in less than ${hours} ${hours === 1 ? "hour" : "hours"}: these tickets cannot be cancelled.`
      : "These tickets cannot be cancelled.",
  };
}

/** Shows the page for the hold's current state. */
async function show(hold) {
  st.hold = hold;
  if (hold.status !== "active") forgetHold(hold.showtime_id);
  if (hold.status === "purchased" && hold.order_id) {
    const purchase = await api(`/api/v1/orders/${encodeURIComponent(hold.order_id)}`);
    renderConfirmation(purchase, false);
  } else if (hold.status === "expired" || (hold.status === "active" && remaining() <= 0)) {
    renderExpired();
  } else if (hold.status === "released") {
    renderEnded("You released these seats", "They are back on sale. You can pick seats again on the seat map.");
  } else {
    renderActive();
  }
}

// ---------------------------------------------------------------------------------------------
// The booking summary

function showtimeLine() {
  const show = st.showtime;
  if (!show) return null;
  const tz = show.venue?.time_zone;
  return h("p", { class: "show-line" },
    h("strong", {}, show.event_title), h("br"),
    h("time", { datetime: show.starts_at }, venueDateTime(show.starts_at)),
    ` · ${show.venue.name}, ${show.hall} · ${show.venue.city}`);
}

/**
 * The table of seats: a row per numbered seat ("Stalls A6"), and one per standing area with
 * its count ("Floor, standing × 2"), since standing places are not numbered.
 */
function seatTable(tickets, total, caption) {
  const lines = [];
  const areas = new Map();
  for (const t of tickets) {
    if (t.row !== null && t.row !== undefined) {
      lines.push({ name: t.label, category: t.category, price: t.price, n: 1 });
      continue;
    }
    let area = areas.get(t.section_id);
    if (!area) {
      area = { ga: true, section: t.section, category: t.category, price: t.price, n: 0, sum: 0 };
      areas.set(t.section_id, area);
      lines.push(area);
    }
    area.n += 1;
    area.sum += t.price.amount;
  }
  const standing = areas.size > 0;
  const seated = lines.some((line) => !line.ga);
  const heading = standing && seated ? "Seat / place" : standing ? "Standing place" : "Seat";
  return h("div", { class: "table-wrap" },
    h("table", { class: "seats-table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, heading), h("th", { scope: "col" }, "Category"),
        h("th", { scope: "col", class: "num" }, "Price"))),
      h("tbody", {}, lines.map((line) => h("tr", {},
        h("td", {}, line.ga ? `${line.section}, standing × ${line.n}` : line.name),
        h("td", {}, line.category.replace(/[_-]+/g, " ")),
        h("td", { class: "num" }, line.ga
          ? [money({ amount: line.sum, currency: line.price.currency }),
            line.n > 1 ? h("span", { class: "each" }, `${line.n} × ${money(line.price)}`) : null]
          : money(line.price))))),
      h("tfoot", {}, h("tr", {},
        h("th", { scope: "row", colspan: 2 }, `Total (${tickets.length} ${tickets.length === 1 ? "ticket" : "tickets"})`),
        h("td", { class: "num total" }, money(total))))));
}

function holdTotal() {
  if (st.hold.total) return st.hold.total;
  const amount = st.hold.tickets.reduce((n, t) => n + t.price.amount, 0);
  return { amount, currency: st.hold.tickets[0]?.price.currency || "EUR" };
}

// ---------------------------------------------------------------------------------------------
// Paying

/** Whether the hold is standing places only (not numbered seats). */
function standingOnly() {
  return st.hold.tickets.length > 0 && st.hold.tickets.every((t) => t.row === null || t.row === undefined);
}

function renderActive() {
  const total = holdTotal();
  const standing = standingOnly();
  const zoneDiffers = st.showtime?.venue?.time_zone && st.showtime.venue.time_zone !== deviceZone;
  ui.clock = h("strong", { class: "clock", role: "timer", "aria-live": "off" }, clock(remaining()));
  // The hold ends at a moment of the buyer's own day: their clock, not the venue's.
  ui.timer = h("div", { class: "timer", id: "timer" },
    h("span", { class: "timer-label" }, standing ? "Your places are held for" : "Your seats are held for"),
    ui.clock,
    h("span", { class: "timer-until" }, `until ${localTime(st.hold.expires_at)}${zoneDiffers ? " your time" : ""}`));
  ui.result = h("div", { class: "pay-result" });
  ui.payLabel = `Pay ${money(total)}`;
  ui.pay = h("button", { type: "submit", class: "pay-button" }, ui.payLabel);
  ui.release = h("button", { type: "button", class: "secondary", onclick: release }, "Release seats");
  ui.changeLabel = standing ? "Change quantity" : "Change seats";
  ui.change = h("button", { type: "button", class: "link change-seats", onclick: changeSeats, "aria-describedby": "change-hint" }, ui.changeLabel);
  const rule = cancellationRule();
  ui.rule = rule ? h("p", { class: ["cancel-rule", rule.open ? "open" : "closed"], id: "cancel-rule" }, rule.text) : null;

  let method;
  const provider = st.config?.provider || "test";
  ui.canPay = provider === "test";
  if (provider === "test") {
    method = h("fieldset", { class: "cards" },
      h("legend", {}, "Card"),
      h("p", { class: "hint", id: "cards-hint" },
        "Test mode: no real money moves. Choose one of the test gateway's cards."),
      st.config.test_cards.map((card, index) => {
        const id = `card-${index}`;
        return h("div", { class: "card-choice" },
          h("input", { type: "radio", name: "card", id, value: card.token, "aria-describedby": "cards-hint" }),
          h("label", { for: id }, card.label));
      }));
  } else if (provider === "unavailable") {
    method = h("div", { class: "notice error", role: "alert" },
      `The payment options could not be loaded (${st.config.error.message}). `,
      h("button", { type: "button", class: "link", onclick: () => location.reload() }, "Reload the page"),
      " to try again; your seats stay held meanwhile.");
    ui.pay.disabled = true;
  } else {
    method = h("div", { class: "notice warn", role: "note" },
      h("strong", {}, "Card payments go through Stripe. "),
      "Card entry needs Stripe's own card form (Stripe.js, loaded from js.stripe.com), which this page does not load yet, so you cannot pay here. ",
      "Your seats stay held until the time runs out, or release them below.");
    ui.pay.disabled = true;
  }

  if (ui.rule) ui.pay.setAttribute("aria-describedby", "cancel-rule");
  ui.form = h("form", { class: "pay-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); pay(); } },
    h("h2", { id: "pay-title" }, "Payment"),
    method,
    ui.rule,
    ui.result,
    h("div", { class: "actions" }, ui.pay, ui.release));

  replace(app,
    h("div", { class: "checkout" },
      h("section", { class: "panel booking", "aria-labelledby": "booking-title" },
        h("h2", { id: "booking-title" }, standing ? "Your tickets" : "Your seats"),
        showtimeLine(),
        seatTable(st.hold.tickets, total, "Held seats and prices"),
        h("p", { class: "change" }, ui.change,
          h("span", { class: "muted", id: "change-hint" }, standing
            ? " — releases these places and takes you back to the seat map with the same number chosen, to change it."
            : " — releases these seats and takes you back to the seat map with them still selected, to add, remove or swap seats."))),
      h("div", { class: "side" },
        ui.timer,
        h("section", { class: "panel", "aria-labelledby": "pay-title" }, ui.form))));
  tick();
}

function tick() {
  if (st.finished || !ui.clock || !st.hold || st.hold.status !== "active") return;
  const left = remaining();
  ui.clock.textContent = clock(left);
  ui.timer.classList.toggle("urgent", left <= 60_000);
  if (ui.rule && ui.rule.classList.contains("open")) {
    const rule = cancellationRule();
    if (rule && !rule.open) {
      ui.rule.textContent = rule.text;
      ui.rule.classList.replace("open", "closed");
    }
  }
  for (const [at, text] of [[300_000, "5 minutes left to pay."], [60_000, "1 minute left to pay; after that your seats are released."], [30_000, "30 seconds left to pay."]]) {
    // Spoken when the clock passes the mark, not for marks already behind at page load.
    if (left <= at && left > at - 2000 && !st.spoken.has(at)) {
      st.spoken.add(at);
      announce(text);
    }
  }
  if (left <= 0 && !st.paying) {
    st.finished = true;
    confirmExpiry();
  }
}

/** At zero: ask the server (it may have been paid in another tab), then show what is so. */
async function confirmExpiry() {
  try {
    const hold = await api(`/api/v1/holds/${encodeURIComponent(holdId)}`);
    if (hold.status === "purchased") {
      st.hold = hold;
      await show(hold);
      return;
    }
  } catch {
    // show the expiry anyway
  }
  renderExpired();
}

function selectedCard() {
  return ui.form?.querySelector('input[name="card"]:checked')?.value || null;
}

function keyFor(token) {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY_STORE) || "null");
    if (stored?.key && stored.token === token) return stored.key;
    const key = newKey();
    sessionStorage.setItem(KEY_STORE, JSON.stringify({ key, token }));
    return key;
  } catch {
    ui.memoryKey ??= {};
    return (ui.memoryKey[token] ??= newKey());
  }
}

function forgetKey() {
  try {
    sessionStorage.removeItem(KEY_STORE);
  } catch {
    // ignore
  }
  ui.memoryKey = {};
}

function result(kind, ...content) {
  const box = h("div", { class: `notice ${kind}`, role: kind === "error" || kind === "warn" ? "alert" : "status", tabindex: "-1" }, ...content);
  replace(ui.result, box);
  return box;
}

/**
 * The same, and keyboard focus moves to the message (the Pay button pressed may be disabled
 * meanwhile): keyboard and screen-reader users are where the news is, and Tab goes on to Pay,
 * Shift+Tab back to the cards.
 */
function resultFocus(kind, ...content) {
  const box = result(kind, ...content);
  box.focus({ preventScroll: true });
  box.scrollIntoView({ block: "nearest" });
  return box;
}

/** Pay and Release seats are usable unless a payment runs, is retried or watched, or a release runs. */
function syncButtons() {
  if (st.finished || !ui.pay) return;
  const busy = st.paying || st.releasing || Boolean(st.checking) || Boolean(st.retry);
  const paying = st.paying || Boolean(st.retry);
  ui.pay.disabled = busy || !ui.canPay;
  ui.release.disabled = busy;
  if (ui.change) ui.change.disabled = busy;
  if (paying) ui.pay.setAttribute("aria-busy", "true");
  else ui.pay.removeAttribute("aria-busy");
  ui.pay.textContent = paying ? "Paying…" : ui.payLabel;
}

/**
 * Pays with the chosen card (or `token`: a retry pays with the card of the attempt it repeats).
 * `retried`: this is the one automatic retry after `idempotency_key_reused`; `waits`: how many
 * times this payment was asked again while its first request was still running.
 */
async function pay({ token = selectedCard(), retried = false, waits = 0 } = {}) {
  if (st.paying || st.releasing || st.checking || st.retry || st.finished) return;
  if (!token) {
    result("error", "Choose a card to pay with.");
    ui.form.querySelector('input[name="card"]')?.focus();
    return;
  }
  st.paying = true;
  syncButtons();
  if (!waits) replace(ui.result, h("p", { class: "muted", role: "status" }, "Paying… please don't close this page."));
  let next = null;
  try {
    try {
      const purchase = await api("/api/v1/orders", {
        method: "POST",
        body: { hold_id: holdId, payment_token: token },
        idempotencyKey: keyFor(token),
      });
      forgetKey();
      st.paying = false;
      renderConfirmation(purchase, true);
      return;
    } catch (error) {
      next = await onPayError(error, retried, waits);
    }
  } finally {
    st.paying = false;
    if (next === "later") retryLater(token, waits);
    syncButtons();
  }
  if (next === "again") pay({ token, retried: true });
  else if (!st.finished && remaining() <= 0) tick();
}

/** The first request with this key is still running: ask again with the same key shortly. */
const RETRY_EVERY = 3000;
const MAX_WAITS = 20; // about a minute
function retryLater(token, waits) {
  if (st.finished) return;
  if (waits >= MAX_WAITS) {
    result("warn", "Your payment is still being processed. Press Pay again in a moment to see how it went: ",
      "the same payment is sent again, and you will never be charged twice.");
    return;
  }
  st.retry = setTimeout(() => {
    st.retry = null;
    if (st.finished) return;
    pay({ token, waits: waits + 1 });
  }, RETRY_EVERY);
}

/**
 * Explains a failed payment. Answers what to do next: "again" (one automatic retry with a new
 * key), "later" (ask again with the same key in a moment) or null (nothing by itself).
 */
async function onPayError(error, retried, waits) {
  if (!(error instanceof ApiError)) {
    // The answer was lost: the payment may or may not have gone through. The same key makes
    // pressing Pay again safe.
    resultFocus("warn", "The connection was lost before the payment was confirmed. Press Pay again: it is safe, the same payment is sent again and you will never be charged twice.");
    return null;
  }
  switch (error.code) {
    case "payment_declined": {
      forgetKey();
      const decline = declineText(error.message);
      resultFocus("error", h("strong", {}, decline.title), ". ", decline.advice,
        " You have not been charged, and your seats stay held while the timer runs.");
      return null;
    }
    case "invalid_payment_token":
      forgetKey();
      resultFocus("error", h("strong", {}, "This card cannot be used here"), ` (${error.message}). Choose another card.`);
      return null;
    case "idempotency_key_reused":
      forgetKey();
      return retried ? null : "again";
    case "payment_in_progress":
      // Another attempt is paying for this hold (another tab, or an earlier request of this
      // page). This request was refused and did nothing: its key is not used again.
      forgetKey();
      result("warn", "A payment for these seats is already under way (perhaps in another tab). Checking its result…");
      watchOutcome("The other payment did not go through");
      return null;
    case "idempotency_in_progress":
      // The first request with this key (e.g. one whose answer was lost) is still running:
      // the same key, a moment later, gets its answer.
      if (!waits) {
        result("warn", "Your payment is still being processed. Waiting for its result… please don't close this page.");
      }
      return "later";
    case "payment_outcome_unknown":
      result("warn", "The payment provider has not confirmed your payment yet. Please don't pay again: we are checking, and this page updates by itself.");
      watchOutcome("Your payment did not go through");
      return null;
    case "payment_unavailable":
      resultFocus("error", "The payment provider is unavailable right now. You have not been charged, and your seats stay held while the timer runs. Please try again in a moment.");
      return null;
    case "hold_expired":
      renderExpired("Your hold expired before the payment went through. You have not been charged.");
      return null;
    case "hold_not_active":
      await refresh();
      return null;
    case "unauthenticated":
      location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
      return null;
    case "not_found":
      resultFocus("error", "This booking was not found any more. ", h("a", { href: mapLink() }, "Back to the seat map"));
      return null;
    default:
      resultFocus("error", `The payment could not be made: ${error.message}`);
      return null;
  }
}

/** What each decline reason means for the buyer, in words of its own. */
const DECLINES = {
  card_declined: ["Your card was declined", "The bank gave no reason: try another card, or ask your bank."],
  generic_decline: ["Your card was declined", "The bank gave no reason: try another card, or ask your bank."],
  do_not_honor: ["Your card was declined", "The bank gave no reason: try another card, or ask your bank."],
  insufficient_funds: ["Not enough money on this card", "The bank refused the payment for lack of funds: try another card."],
  expired_card: ["This card has expired", "Try another card."],
  incorrect_cvc: ["The security code (CVC) is wrong", "Check it, or try another card."],
  incorrect_number: ["The card number is wrong", "Check it, or try another card."],
  lost_card: ["This card cannot be used", "Try another card."],
  stolen_card: ["This card cannot be used", "Try another card."],
  card_not_supported: ["This card does not support this payment", "Try another card."],
  processing_error: ["The card could not be processed", "Try again in a moment, or try another card."],
};

/** "payment declined: insufficient_funds" → {title, advice}. */
function declineText(detail) {
  const reason = (detail || "").replace(/^payment declined:\s*/i, "").trim();
  const [title, advice] = DECLINES[reason] || ["Your card was declined",
    reason ? `The bank said: ${reason.replace(/_/g, " ")}. Try another card.` : "Try another card."];
  return { title, advice };
}

/** Looks at the hold again and shows what it is now. */
async function refresh() {
  try {
    const hold = await api(`/api/v1/holds/${encodeURIComponent(holdId)}`);
    if (hold.status === "active" && remaining() > 0) {
      result("error", "This booking cannot be paid right now. Please try again.");
      return hold;
    }
    st.finished = true;
    await show(hold);
    return hold;
  } catch (error) {
    result("error", `Your booking could not be checked: ${error.message}`);
    return null;
  }
}

/** This hold's order (created by its first payment attempt), or null when there is none. */
async function holdOrder() {
  const page = await api("/api/v1/orders?limit=25");
  return (page.items || []).find((item) => item.order.hold_id === holdId)?.order || null;
}

/**
 * Watches the hold while another payment attempt for it runs (the provider may be slow to
 * answer): until the hold is paid for (or ends), or is no longer in a payment (that attempt
 * failed: this page may pay), or three minutes have passed. Pay and Release seats are
 * disabled while it watches, and usable again when it stops.
 */
function watchOutcome(failed) {
  if (st.checking || st.finished) return;
  const started = Date.now();
  let looking = false;
  st.checking = setInterval(async () => {
    if (looking) return;
    looking = true;
    try {
      await checkOutcome(started, failed);
    } finally {
      looking = false;
    }
  }, 3000);
  syncButtons();
}

function stopWatching() {
  if (st.checking) clearInterval(st.checking);
  st.checking = null;
  syncButtons();
}

/** One look at the hold for `watchOutcome`; `failed` heads the message when the attempt failed. */
async function checkOutcome(started, failed) {
  if (st.finished) {
    stopWatching();
    return;
  }
  let hold = null;
  let order = null;
  try {
    hold = await api(`/api/v1/holds/${encodeURIComponent(holdId)}`);
    if (hold.status === "active") order = await holdOrder();
  } catch {
    hold = null; // keep looking: the connection may be back at the next look
  }
  if (st.finished) {
    stopWatching();
    return;
  }
  if (hold && hold.status !== "active") {
    stopWatching();
    st.finished = true;
    try {
      await show(hold);
    } catch (error) {
      st.finished = false;
      result("error", `Your booking could not be checked: ${error.message} `, h("a", { href: "/tickets" }, "See your tickets"));
    }
    return;
  }
  if (hold && (!order || order.status === "payment_failed")) {
    // The hold is active and not in a payment any more, and no order of it is paid: the
    // attempt watched failed. Its key is done with; this page may pay.
    st.hold = hold;
    forgetKey();
    stopWatching();
    resultFocus("warn", h("strong", {}, failed),
      " — you have not been charged. Your seats stay held while the timer runs: you can pay now.");
    return;
  }
  if (Date.now() - started > 180_000) {
    stopWatching();
    result("warn", "We still have no answer from the payment provider. Your order will appear under ",
      h("a", { href: "/tickets" }, "your tickets"), " as soon as it is confirmed; if the payment failed, you will not be charged. ",
      "You can also press Pay again: a payment still under way is never charged twice.");
  }
}

async function release() {
  if (st.paying || st.releasing || st.checking || st.retry || st.finished) return;
  st.releasing = true;
  syncButtons();
  try {
    await api(`/api/v1/holds/${encodeURIComponent(holdId)}`, { method: "DELETE" });
    st.finished = true;
    forgetKey();
    forgetHold(st.hold.showtime_id);
    try {
      sessionStorage.setItem("marquee:flash", "Your seats were released. Pick new ones whenever you like.");
    } catch {
      // ignore
    }
    location.assign(mapLink());
  } catch (error) {
    st.releasing = false;
    syncButtons();
    if (error instanceof ApiError && error.status === 409) {
      await refresh();
      return;
    }
    resultFocus("error", `Your seats could not be released: ${error.message}`);
  }
}

/**
 * Change seats: releases this hold and goes back to the seat map with the same seats (or the
 * same number of standing places) selected again, to edit there. Nothing is left held.
 */
async function changeSeats() {
  if (st.paying || st.releasing || st.checking || st.retry || st.finished) return;
  st.releasing = true;
  syncButtons();
  ui.change.textContent = "Releasing your seats…";
  const tickets = st.hold.tickets;
  try {
    await api(`/api/v1/holds/${encodeURIComponent(holdId)}`, { method: "DELETE" });
  } catch (error) {
    st.releasing = false;
    ui.change.textContent = ui.changeLabel;
    syncButtons();
    if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
      await refresh();
      return;
    }
    resultFocus("error", `Your seats could not be released to change them: ${error.message} They are still held; try again.`);
    return;
  }
  st.finished = true;
  forgetKey();
  forgetHold(st.hold.showtime_id);
  const standing = tickets.filter((t) => t.row === null || t.row === undefined);
  const selection = {
    ticket_ids: tickets.filter((t) => t.row !== null && t.row !== undefined).map((t) => t.id),
    ga: standing.length ? { section_id: standing[0].section_id, quantity: standing.length } : null,
    released_ids: tickets.map((t) => t.id),
  };
  try {
    sessionStorage.setItem(`marquee:selection:${st.hold.showtime_id}`, JSON.stringify(selection));
  } catch {
    // private mode: the map opens without the selection
  }
  location.assign(mapLink());
}

// ---------------------------------------------------------------------------------------------
// Endings

function renderExpired(detail) {
  st.finished = true;
  forgetHold(st.hold.showtime_id);
  renderEnded("Your hold expired, seats released",
    detail || "The time to pay ran out, so your seats went back on sale. You have not been charged. You can pick seats again on the seat map.");
}

function renderEnded(title, text) {
  st.finished = true;
  const heading = h("h2", { id: "ended-title", tabindex: "-1" }, title);
  replace(app, h("section", { class: "panel ended", "aria-labelledby": "ended-title" },
    heading,
    h("p", {}, text),
    showtimeLine(),
    h("p", { class: "actions" }, h("a", { class: "button", href: mapLink() }, "Back to the seat map"))));
  heading.focus();
  announce(title);
}

/** The order's short reference, as My tickets shows it: "02CCFFBB". */
function shortId(id) {
  return id.replace(/^ord_/, "").slice(-8).toUpperCase();
}

function renderConfirmation(purchase, fresh) {
  st.finished = true;
  forgetHold(purchase.order.showtime_id);
  const order = purchase.order;
  const tickets = purchase.tickets || [];
  const confirmed = order.status === "confirmed";
  const title = confirmed ? "Booking confirmed" : `Order ${order.status.replace(/_/g, " ")}`;
  const heading = h("h2", { id: "confirmation-title", tabindex: "-1" }, title);
  setTitle(title);
  document.getElementById("title").textContent = confirmed ? "Thank you!" : "Your order";
  replace(app, h("section", { class: "panel confirmation", "aria-labelledby": "confirmation-title" },
    h("div", { class: "confirmation-head" },
      h("span", { class: "tick", "aria-hidden": "true" }, confirmed ? "✓" : "!"),
      heading),
    h("p", {}, confirmed
      ? `Your payment of ${money(order.total)} went through and your tickets are ready.`
      : "This order is not confirmed."),
    h("dl", { class: "facts" },
      h("dt", {}, "Order"), h("dd", {},
        h("strong", { class: "order-ref", title: `Full reference: ${order.id}` }, shortId(order.id)),
        h("span", { class: "full-ref" }, " · full reference ", h("code", {}, order.id))),
      h("dt", {}, "Paid"), h("dd", {}, money(order.total)),
      cancelFact(purchase)),
    showtimeLine(),
    seatTable(tickets, order.total, "Booked seats and prices"),
    h("p", { class: "actions" },
      h("a", { class: "button", href: "/tickets" }, "My tickets"),
      h("a", { href: "/" }, "Back to what's on")),
    h("p", { class: "hint" }, `Your e-tickets with their QR codes are under My tickets (order ${shortId(order.id)}); show them at the door.`)));
  heading.focus();
  if (fresh) announce(`Payment successful. ${title}.`);
}

/** "Cancel until …" on the confirmation, from the order's own answer or the rule. */
function cancelFact(purchase) {
  if (purchase.order.status !== "confirmed") return null;
  let text = null;
  if (purchase.cancellable_until) {
    text = `Free until ${venueDateTime(purchase.cancellable_until)}, under My tickets`;
  } else {
    const rule = cancellationRule();
    if (rule) text = rule.open ? `Free until ${rule.until}, under My tickets` : "Not possible (the show is too close)";
  }
  return text ? [h("dt", {}, "Cancellation"), h("dd", {}, text)] : null;
}

boot();
