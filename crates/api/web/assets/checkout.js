// Checkout: what is held, a countdown to the hold's end, payment, and the confirmation.
//
// Paying is idempotent across double clicks, retries and reloads: the Pay button is disabled
// while a payment runs, and each hold keeps ONE Idempotency-Key in sessionStorage (with the
// card it was used for), so a retry after a lost connection, or a reload, re-sends the same
// request and can never charge twice. A definite "no" (card declined, card refused) ends that
// request: the next attempt, e.g. with another card, gets a new key. The server pays a hold at
// most once whatever the keys, so switching cards is safe too.

import { api, ApiError, announce, dateTime, h, money, newKey, replace, requireUser, segment, setTitle, timeOfDay } from "/assets/app.js";

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
  paying: false,
  finished: false, // confirmed, expired or released: no more timer work
  spoken: new Set(),
  checking: null,
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

/** How far the server's clock is from ours (its Date header; only a gross difference counts). */
async function serverSkew() {
  try {
    const sent = Date.now();
    const response = await fetch("/healthz", { cache: "no-store" });
    const received = Date.now();
    const date = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(date)) return 0;
    const skew = date + 500 - (sent + received) / 2;
    return Math.abs(skew) > 3000 ? skew : 0;
  } catch {
    return 0;
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

/** Shows the page for the hold's current state. */
async function show(hold) {
  st.hold = hold;
  if (hold.status !== "active") {
    try {
      sessionStorage.removeItem(`marquee:hold:${hold.showtime_id}`);
    } catch {
      // ignore
    }
  }
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
    h("time", { datetime: show.starts_at }, dateTime(show.starts_at, tz)),
    ` · ${show.venue.name}, ${show.hall} · ${show.venue.city}`);
}

function seatTable(tickets, total, caption) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "seats-table" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Seat"), h("th", { scope: "col" }, "Category"),
        h("th", { scope: "col", class: "num" }, "Price"))),
      h("tbody", {}, tickets.map((t) => h("tr", {},
        h("td", {}, t.label),
        h("td", {}, t.category.replace(/[_-]+/g, " ")),
        h("td", { class: "num" }, money(t.price))))),
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

function renderActive() {
  const total = holdTotal();
  const tz = st.showtime?.venue?.time_zone;
  ui.clock = h("strong", { class: "clock", role: "timer", "aria-live": "off" }, clock(remaining()));
  ui.timer = h("div", { class: "timer", id: "timer" },
    h("span", { class: "timer-label" }, "Your seats are held for"),
    ui.clock,
    h("span", { class: "timer-until" }, `until ${timeOfDay(st.hold.expires_at, tz)}`));
  ui.result = h("div", { class: "pay-result" });
  ui.pay = h("button", { type: "submit", class: "pay-button" }, `Pay ${money(total)}`);
  ui.release = h("button", { type: "button", class: "secondary", onclick: release }, "Release seats");

  let method;
  const provider = st.config?.provider || "test";
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

  ui.form = h("form", { class: "pay-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); pay(); } },
    h("h2", { id: "pay-title" }, "Payment"),
    method,
    ui.result,
    h("div", { class: "actions" }, ui.pay, ui.release));

  replace(app,
    h("div", { class: "checkout" },
      h("section", { class: "panel booking", "aria-labelledby": "booking-title" },
        h("h2", { id: "booking-title" }, "Your seats"),
        showtimeLine(),
        seatTable(st.hold.tickets, total, "Held seats and prices"),
        h("p", {}, h("a", { href: mapLink() }, "Change seats"),
          h("span", { class: "muted" }, " (your current seats stay held until you release them or the time runs out)"))),
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
  replace(ui.result, h("div", { class: `notice ${kind}`, role: kind === "error" || kind === "warn" ? "alert" : "status" }, ...content));
}

async function pay(retried = false) {
  if (st.paying || st.finished) return;
  const token = selectedCard();
  if (!token) {
    result("error", "Choose a card to pay with.");
    ui.form.querySelector('input[name="card"]')?.focus();
    return;
  }
  st.paying = true;
  const label = ui.pay.textContent;
  ui.pay.disabled = true;
  ui.release.disabled = true;
  ui.pay.setAttribute("aria-busy", "true");
  ui.pay.textContent = "Paying…";
  replace(ui.result, h("p", { class: "muted", role: "status" }, "Paying… please don't close this page."));
  let again = false;
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
    again = await onPayError(error, retried);
  } finally {
    if (st.paying) {
      st.paying = false;
      if (!st.finished) {
        ui.pay.disabled = Boolean(st.checking);
        ui.release.disabled = Boolean(st.checking);
        ui.pay.removeAttribute("aria-busy");
        ui.pay.textContent = label;
      }
    }
  }
  if (again) pay(true);
  else if (!st.finished && remaining() <= 0) tick();
}

/** Explains a failed payment; true when it is worth one automatic retry. */
async function onPayError(error, retried) {
  const left = clock(remaining());
  if (!(error instanceof ApiError)) {
    // The answer was lost: the payment may or may not have gone through. The same key makes
    // pressing Pay again safe.
    result("warn", "The connection was lost before the payment was confirmed. Press Pay again: it is safe, the same payment is sent again and you will never be charged twice.");
    return false;
  }
  switch (error.code) {
    case "payment_declined":
      forgetKey();
      result("error", h("strong", {}, "Your card was declined"),
        ` — the seats are still held for ${left}; try another card.`,
        error.message ? h("span", { class: "reason" }, ` (${declineReason(error.message)})`) : null);
      return false;
    case "invalid_payment_token":
      forgetKey();
      result("error", `This card cannot be used (${error.message}). Try another card.`);
      return false;
    case "idempotency_key_reused":
      forgetKey();
      return !retried;
    case "payment_in_progress":
    case "idempotency_in_progress":
      result("warn", "A payment for these seats is already under way (perhaps in another tab). Checking its result…");
      watchOutcome();
      return false;
    case "payment_outcome_unknown":
      result("warn", "The payment provider has not confirmed your payment yet. Please don't pay again: we are checking, and this page updates by itself.");
      watchOutcome();
      return false;
    case "payment_unavailable":
      result("error", `The payment provider is unavailable right now. You have not been charged, and your seats are still held for ${left}. Please try again in a moment.`);
      return false;
    case "hold_expired":
      renderExpired("Your hold expired before the payment went through. You have not been charged.");
      return false;
    case "hold_not_active":
      await refresh();
      return false;
    case "unauthenticated":
      location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
      return false;
    case "not_found":
      result("error", "This booking was not found any more. ", h("a", { href: mapLink() }, "Back to the seat map"));
      return false;
    default:
      result("error", `The payment could not be made: ${error.message}`);
      return false;
  }
}

/** "payment declined: insufficient_funds" → "insufficient funds". */
function declineReason(detail) {
  return detail.replace(/^payment declined:\s*/i, "").replace(/_/g, " ");
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

/** Polls the hold until the payment's outcome is known (the provider may be slow to answer). */
function watchOutcome() {
  if (st.checking) return;
  ui.pay.disabled = true;
  const started = Date.now();
  st.checking = setInterval(async () => {
    try {
      const hold = await api(`/api/v1/holds/${encodeURIComponent(holdId)}`);
      if (hold.status !== "active") {
        clearInterval(st.checking);
        st.checking = null;
        st.finished = true;
        await show(hold);
      } else if (Date.now() - started > 180_000) {
        clearInterval(st.checking);
        st.checking = null;
        result("warn", "We still have no answer from the payment provider. Your order will appear under ",
          h("a", { href: "/tickets" }, "your tickets"), " as soon as it is confirmed; if the payment failed, you will not be charged.");
      }
    } catch {
      // keep looking
    }
  }, 4000);
}

async function release() {
  if (st.paying) return;
  ui.release.disabled = true;
  ui.pay.disabled = true;
  try {
    await api(`/api/v1/holds/${encodeURIComponent(holdId)}`, { method: "DELETE" });
    st.finished = true;
    forgetKey();
    try {
      sessionStorage.removeItem(`marquee:hold:${st.hold.showtime_id}`);
      sessionStorage.setItem("marquee:flash", "Your seats were released. Pick new ones whenever you like.");
    } catch {
      // ignore
    }
    location.assign(mapLink());
  } catch (error) {
    ui.release.disabled = false;
    ui.pay.disabled = false;
    if (error instanceof ApiError && error.status === 409) {
      await refresh();
      return;
    }
    result("error", `Your seats could not be released: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Endings

function renderExpired(detail) {
  st.finished = true;
  try {
    sessionStorage.removeItem(`marquee:hold:${st.hold.showtime_id}`);
  } catch {
    // ignore
  }
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

function renderConfirmation(purchase, fresh) {
  st.finished = true;
  try {
    sessionStorage.removeItem(`marquee:hold:${purchase.order.showtime_id}`);
  } catch {
    // ignore
  }
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
      h("dt", {}, "Order"), h("dd", {}, h("code", {}, order.id)),
      h("dt", {}, "Paid"), h("dd", {}, money(order.total))),
    showtimeLine(),
    seatTable(tickets, order.total, "Booked seats and prices"),
    h("p", { class: "actions" },
      h("a", { class: "button", href: "/tickets" }, "My tickets"),
      h("a", { href: "/" }, "Back to what's on")),
    h("p", { class: "hint" }, "Your e-tickets with their QR codes are under My tickets; show them at the door.")));
  heading.focus();
  if (fresh) announce(`Payment successful. ${title}.`);
}

boot();
