// My tickets: the signed-in user's orders (newest first, a page at a time), each with its
// showtime, status and total, and every ticket with its QR door code; cancelling an order
// (full refund) while the refund window is open.
//
// Whether an order may be cancelled is the server's call: each order comes with
// `cancellable_until` while it may (it holds tickets, none was used at the door, and the cutoff
// before the show has not passed; partially refunded orders too), and without it otherwise. The
// Cancel button is shown exactly while that moment is ahead.

import {
  api, ApiError, requireUser, newKey, h, replace, money, dateTime, announce, errorBox, showError, poster, setTitle,
} from "/assets/app.js";

const PAGE_SIZE = 10;

const list = document.getElementById("orders");
const status = document.getElementById("status");
const problem = document.getElementById("problem");
const more = document.getElementById("more");
const cancelDialog = document.getElementById("cancel-dialog");
const codeDialog = document.getElementById("code-dialog");

const wanted = new URLSearchParams(location.search).get("order");
const showtimes = new Map(); // showtime id → Promise<showtime | null>
const orders = new Map(); // order id → { purchase, showtime, details }
const cancelKeys = new Map(); // order id → idempotency key of the cancel being attempted
let cursor = null;
let loaded = 0;

const STATUS = {
  confirmed: { text: "Confirmed", tone: "ok" },
  partially_refunded: { text: "Partially refunded", tone: "warn" },
  refunded: { text: "Refunded", tone: "" },
  pending_payment: { text: "Payment pending", tone: "warn" },
  payment_failed: { text: "Payment failed", tone: "bad" },
  expired: { text: "Expired", tone: "" },
  cancelled: { text: "Cancelled", tone: "bad" },
};

const holdsTickets = (order) => order.status === "confirmed" || order.status === "partially_refunded";

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function showtimeOf(id) {
  if (!showtimes.has(id)) {
    showtimes.set(id, api(`/api/v1/showtimes/${encodeURIComponent(id)}`).catch((error) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }));
  }
  return showtimes.get(id);
}

/**
 * Each ticket's door-code details ({checked_in_at, …}), or null when the ticket is no longer
 * this order's (refunded). Only tickets still sold are asked about.
 */
async function ticketDetails(purchase) {
  const details = new Map();
  if (!holdsTickets(purchase.order)) return details;
  const sold = purchase.tickets.filter((ticket) => ticket.status === "sold");
  await pool(sold, 4, async (ticket) => {
    try {
      const detail = await api(`/api/v1/tickets/${encodeURIComponent(ticket.id)}`);
      details.set(ticket.id, detail.order_id === purchase.order.id ? detail : null);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      details.set(ticket.id, null);
    }
  });
  return details;
}

/** An unpaid order whose hold still runs can be paid on the checkout page. */
async function openHold(purchase) {
  if (!["pending_payment", "payment_failed"].includes(purchase.order.status)) return null;
  try {
    const hold = await api(`/api/v1/holds/${encodeURIComponent(purchase.order.hold_id)}`);
    return hold.status === "active" && new Date(hold.expires_at) > new Date() ? hold : null;
  } catch {
    return null;
  }
}

async function enrich(purchase) {
  const [showtime, details, hold] = await Promise.all([
    showtimeOf(purchase.order.showtime_id),
    ticketDetails(purchase),
    openHold(purchase),
  ]);
  const entry = { purchase, showtime, details, hold };
  orders.set(purchase.order.id, entry);
  return entry;
}

// ----- rendering -----

function badge(text, tone) {
  return h("span", { class: ["badge", tone] }, text);
}

function when(showtime) {
  return showtime ? dateTime(showtime.starts_at, showtime.venue.time_zone) : "";
}

function place(showtime) {
  if (!showtime) return "";
  return `${showtime.venue.name}, ${showtime.venue.city} · ${showtime.hall}`;
}

function dateOnly(iso) {
  return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" }).format(new Date(iso));
}

function shortId(id) {
  return id.replace(/^ord_/, "").slice(-8).toUpperCase();
}

/** What a ticket is now: valid, checked in, or void. */
function ticketState(entry, ticket) {
  const { purchase, details } = entry;
  if (!holdsTickets(purchase.order)) {
    const text = { refunded: "Refunded", pending_payment: "Not issued yet" }[purchase.order.status] || "Not issued";
    return { kind: "none", text, tone: "" };
  }
  const detail = details.get(ticket.id);
  if (ticket.status !== "sold" || detail === null || detail === undefined) {
    return { kind: "void", text: "Refunded", tone: "" };
  }
  if (detail.checked_in_at) {
    const tz = entry.showtime?.venue.time_zone;
    return { kind: "used", text: `Checked in ${dateTime(detail.checked_in_at, tz)}`, tone: "warn", detail };
  }
  return { kind: "valid", text: "Valid", tone: "ok", detail };
}

function qrImage(ticket, className) {
  return h("img", {
    class: className,
    src: `/api/v1/tickets/${encodeURIComponent(ticket.id)}/qr.svg`,
    alt: `QR code for ${ticket.label}`,
    width: 240,
    height: 240,
    decoding: "async",
  });
}

function renderTicket(entry, ticket) {
  const state = ticketState(entry, ticket);
  const live = state.kind === "valid" || state.kind === "used";
  const category = ticket.category.charAt(0).toUpperCase() + ticket.category.slice(1);
  return h("li", { class: ["ticket", live ? "live" : "void"] },
    live ? h("div", { class: "qr-thumb" }, qrImage(ticket, "qr")) : h("div", { class: "qr-thumb none", "aria-hidden": "true" }, "—"),
    h("div", { class: "ticket-info" },
      h("p", { class: "ticket-label" }, ticket.label),
      h("p", { class: "ticket-meta" }, `${category} · ${money(ticket.price)}`),
      h("p", { class: "ticket-state" }, h("span", { class: "visually-hidden" }, "Status: "), badge(state.text, state.tone)),
      live
        ? h("button", {
            type: "button",
            class: "secondary show-code",
            "aria-haspopup": "dialog",
            onclick: (event) => openCode(entry, ticket, state, event.currentTarget),
          }, "Show code", h("span", { class: "visually-hidden" }, ` for ${ticket.label}`))
        : null,
    ));
}

/** Until when the order may be cancelled (a Date in the future), or null when it may not. */
function cancellableUntil(entry) {
  if (entry.windowClosed || !entry.purchase.cancellable_until) return null;
  const until = new Date(entry.purchase.cancellable_until);
  return Number.isNaN(until.getTime()) || until <= new Date() ? null : until;
}

/** Why this order can or cannot be cancelled, and the button when it can. */
function cancelPart(entry) {
  const { purchase, showtime } = entry;
  const until = cancellableUntil(entry);
  const tz = showtime?.venue.time_zone;
  if (until) {
    const what = showtime ? `${showtime.event_title}, ${when(showtime)}` : `order ${shortId(purchase.order.id)}`;
    return h("div", { class: "cancel-part" },
      h("button", {
        type: "button",
        class: "secondary",
        "aria-haspopup": "dialog",
        onclick: (event) => openCancel(entry, event.currentTarget),
      }, "Cancel order", h("span", { class: "visually-hidden" }, ` for ${what}`)),
      h("p", { class: "hint" }, `Free cancellation with a full refund until ${dateTime(until.toISOString(), tz)}.`));
  }
  // Not cancellable: say why, for orders that still hold tickets.
  if (!holdsTickets(purchase.order) || showtime?.cancelled_at) return null;
  if (showtime && new Date(showtime.starts_at) <= new Date()) {
    return h("p", { class: "hint" }, "This show has started or taken place.");
  }
  if (entry.closedReason) {
    return h("p", { class: "hint cancel-closed" }, `Cancellation closed: ${entry.closedReason}`);
  }
  if (purchase.tickets.some((ticket) => ticketState(entry, ticket).kind === "used")) {
    return h("p", { class: "hint cancel-closed" },
      "Cancellation closed: a ticket of this order has been used at the door, so the order can no longer be cancelled for a refund.");
  }
  return h("p", { class: "hint cancel-closed" },
    "Cancellation closed: an order can be cancelled for a refund only until the deadline before the show," +
    " and not once one of its tickets has been used at the door.");
}

function orderNote(entry) {
  const { purchase, showtime, hold } = entry;
  const order = purchase.order;
  if (showtime?.cancelled_at) {
    return h("p", { class: "notice warn" }, "This showtime was cancelled. Your order is refunded in full.");
  }
  switch (order.status) {
    case "pending_payment":
      return h("p", { class: "notice info" }, "We are waiting for the payment to be confirmed. Your tickets appear here once it is.",
        hold ? [" ", h("a", { href: `/checkout/${encodeURIComponent(order.hold_id)}` }, "Go to checkout")] : null);
    case "payment_failed":
      return h("p", { class: "notice info" }, "The payment did not go through, so you were not charged.",
        hold ? [" ", h("a", { href: `/checkout/${encodeURIComponent(order.hold_id)}` }, "Try paying again")] : null);
    case "expired":
      return h("p", { class: "notice info" }, "The seats were released before the payment was completed. You were not charged.");
    case "cancelled":
      return h("p", { class: "notice info" }, "The payment could not be completed, so this order was cancelled. You were not charged.");
    case "refunded":
      return h("p", { class: "notice info" }, `${money(order.total)} refunded to the card you paid with. These tickets' codes no longer work.`);
    case "partially_refunded":
      return h("p", { class: "notice info" }, "Some tickets of this order were refunded; their codes no longer work.");
    default:
      return null;
  }
}

function renderOrder(entry) {
  const { purchase, showtime } = entry;
  const order = purchase.order;
  const headingId = `order-${order.id}-title`;
  const state = STATUS[order.status] || { text: order.status.replace(/_/g, " "), tone: "" };
  const title = showtime?.event_title || "Showtime details unavailable";
  const past = showtime && new Date(showtime.starts_at) < new Date();
  const count = purchase.tickets.length;
  const article = h("article", { class: ["order", past && "past"], id: `order-${order.id}`, "aria-labelledby": headingId },
    h("div", { class: "order-head" },
      h("div", { class: "order-poster", "aria-hidden": "true" }, showtime ? poster({ title, id: showtime.event_id }, { width: 64, height: 96 }) : null),
      h("div", { class: "order-main" },
        h("h2", { id: headingId, tabindex: "-1" },
          showtime ? h("a", { href: `/events/${encodeURIComponent(showtime.event_id)}` }, title) : title),
        showtime
          ? h("p", { class: "order-when" },
              h("time", { datetime: showtime.starts_at }, when(showtime)),
              h("span", { class: "sep", "aria-hidden": "true" }, " · "),
              h("span", {}, place(showtime)))
          : null,
        h("p", { class: "order-meta muted" },
          `Order ${shortId(order.id)} · booked ${dateOnly(order.created_at)} · ${count} ticket${count === 1 ? "" : "s"}`)),
      h("div", { class: "order-side" },
        h("p", { class: "order-badges" },
          h("span", { class: "visually-hidden" }, "Order status: "),
          badge(state.text, state.tone),
          showtime?.cancelled_at ? badge("Show cancelled", "bad") : null,
          past && !showtime?.cancelled_at ? badge("Past", "") : null),
        h("p", { class: "order-total" }, h("span", { class: "total-label" }, "Total "), h("strong", {}, money(order.total))))),
    h("div", { class: "order-result" }),
    entry.justCancelled ? null : orderNote(entry),
    purchase.tickets.length ? h("ul", { class: "ticket-list", "aria-label": `Tickets of this order` },
      purchase.tickets.map((ticket) => renderTicket(entry, ticket))) : null,
    h("div", { class: "order-actions" }, cancelPart(entry)),
  );
  return h("li", {}, article);
}

function updateStatusLine() {
  status.classList.remove("loading");
  status.classList.add("muted");
  if (!loaded) {
    replace(status, "You have no orders yet. ", h("a", { href: "/" }, "See what's on"), " and book your first seats.");
  } else {
    status.textContent = `${loaded} order${loaded === 1 ? "" : "s"}${cursor ? " shown, more available" : ""}.`;
  }
}

async function loadPage() {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) query.set("cursor", cursor);
  const page = await api(`/api/v1/orders?${query}`);
  const entries = await pool(page.items, 4, enrich);
  cursor = page.next_cursor || null;
  const items = entries.map(renderOrder);
  list.append(...items);
  loaded += entries.length;
  more.hidden = !cursor;
  updateStatusLine();
  return items;
}

async function loadMore() {
  more.disabled = true;
  more.textContent = "Loading…";
  list.setAttribute("aria-busy", "true");
  try {
    const items = await loadPage();
    announce(`${items.length} more order${items.length === 1 ? "" : "s"} loaded.`);
    items[0]?.querySelector("h2")?.focus();
  } catch (error) {
    replace(problem, errorBox(new Error(`Could not load more orders: ${error.message}`)));
  } finally {
    list.setAttribute("aria-busy", "false");
    more.disabled = false;
    more.textContent = "Load more orders";
  }
}

/** `?order=<id>`: brings that order into view (loading further pages if needed). */
async function highlightWanted() {
  if (!wanted) return;
  let article = document.getElementById(`order-${wanted}`);
  for (let pages = 0; !article && cursor && pages < 10; pages++) {
    await loadPage();
    article = document.getElementById(`order-${wanted}`);
  }
  if (!article) {
    problem.append(h("div", { class: "notice warn", role: "status" }, "The order in the link was not found among your orders."));
    return;
  }
  article.classList.add("highlight");
  article.setAttribute("aria-current", "true");
  article.scrollIntoView({ block: "start" });
  article.querySelector("h2")?.focus({ preventScroll: true });
}

// ----- the code dialog -----

let returnFocus = null;

function openDialog(dialog, opener) {
  returnFocus = opener;
  dialog.showModal();
}

function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

let cancelBusy = false; // a cancellation request is under way: its dialog stays open

for (const dialog of [cancelDialog, codeDialog]) {
  dialog.addEventListener("close", () => {
    if (returnFocus?.isConnected) returnFocus.focus();
    returnFocus = null;
  });
  // A click on the backdrop (outside the sheet) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog && !(dialog === cancelDialog && cancelBusy)) {
      const box = dialog.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) dialog.close();
    }
  });
}

function openCode(entry, ticket, state, opener) {
  const { showtime } = entry;
  replace(document.getElementById("code-body"),
    h("h2", { id: "code-title" }, ticket.label),
    showtime ? h("p", { class: "code-event" }, h("strong", {}, showtime.event_title), h("br"), when(showtime), h("br"), place(showtime)) : null,
    h("div", { class: "code-qr" }, qrImage(ticket, "qr-large")),
    state.kind === "used"
      ? h("p", { class: "notice warn" }, `This ticket was checked in ${dateTime(state.detail.checked_in_at, showtime?.venue.time_zone)}.`)
      : h("p", { class: "hint" }, "Turn up your screen brightness and hold the code steady in front of the scanner."),
    h("details", { class: "code-text" },
      h("summary", {}, "Show the code as text"),
      h("p", { class: "hint" }, "If the scanner cannot read it, the staff can type this code:"),
      h("code", {}, state.detail.code)));
  openDialog(codeDialog, opener);
  document.getElementById("code-close").focus();
}

document.getElementById("code-close").addEventListener("click", () => closeDialog(codeDialog));

// ----- cancelling -----

let cancelling = null; // the entry whose cancellation the dialog asks about

function liveTickets(entry) {
  return entry.purchase.tickets.filter((ticket) => ["valid", "used"].includes(ticketState(entry, ticket).kind));
}

function refundAmount(entry) {
  const tickets = liveTickets(entry);
  if (!tickets.length) return entry.purchase.order.total;
  return { amount: tickets.reduce((sum, t) => sum + t.price.amount, 0), currency: entry.purchase.order.total.currency };
}

function openCancel(entry, opener) {
  if (cancelBusy) return;
  cancelling = entry;
  const { showtime } = entry;
  const tickets = liveTickets(entry);
  const labels = tickets.map((t) => t.label).join(", ");
  const n = tickets.length;
  const partly = entry.purchase.order.status === "partially_refunded";
  const which = partly
    ? (n === 1 ? "Your remaining ticket" : `The remaining ${n} tickets`)
    : (n === 1 ? "Your ticket" : `All ${n} tickets`);
  replace(document.getElementById("cancel-text"),
    showtime
      ? h("p", {}, h("strong", {}, showtime.event_title), h("br"), when(showtime), " · ", place(showtime))
      : h("p", {}, h("strong", {}, `Order ${shortId(entry.purchase.order.id)}`)),
    h("p", {}, n ? `${which} (${labels}) will be cancelled and ` : "This order will be cancelled and ",
      h("strong", {}, money(refundAmount(entry))), " refunded to the card you paid with."),
    h("p", {}, "The seats go back on sale and the codes stop working at once. This cannot be undone."));
  replace(document.getElementById("cancel-error"));
  const confirm = document.getElementById("cancel-confirm");
  const keep = document.getElementById("cancel-keep");
  confirm.hidden = false;
  confirm.disabled = false;
  confirm.textContent = "Cancel order and refund";
  keep.disabled = false;
  keep.textContent = "Keep my tickets";
  openDialog(cancelDialog, opener);
  keep.focus();
}

document.getElementById("cancel-keep").addEventListener("click", () => {
  if (!cancelBusy) closeDialog(cancelDialog);
});

cancelDialog.addEventListener("cancel", (event) => {
  // No closing with Escape while the request is under way; any other time, Escape closes.
  if (cancelBusy) event.preventDefault();
});

/** Replaces an order's article with a fresh rendering; answers the new list item. */
function rerender(entry) {
  const old = document.getElementById(`order-${entry.purchase.order.id}`)?.closest("li");
  const fresh = renderOrder(entry);
  old?.replaceWith(fresh);
  return fresh;
}

/**
 * The server refused to cancel: shows the order as the server has it now (falling back to
 * "no longer cancellable" when it cannot be asked), and answers the fresh list item.
 */
async function refused(entry, error) {
  let updated = null;
  try {
    updated = await enrich(await api(`/api/v1/orders/${encodeURIComponent(entry.purchase.order.id)}`));
  } catch {
    updated = null;
  }
  if (!updated || cancellableUntil(updated)) {
    // Not asked, or the server still offers a cancellation it just refused: trust the refusal.
    updated ??= entry;
    updated.windowClosed = true;
  }
  updated.closedReason = `${error.message.replace(/\.$/, "")}.`;
  orders.set(updated.purchase.order.id, updated);
  if (cancelling === entry) cancelling = updated;
  return rerender(updated);
}

document.getElementById("cancel-confirm").addEventListener("click", async (event) => {
  const entry = cancelling;
  if (!entry || cancelBusy) return;
  const confirm = event.currentTarget;
  const keep = document.getElementById("cancel-keep");
  const orderId = entry.purchase.order.id;
  const refund = refundAmount(entry);
  if (!cancelKeys.has(orderId)) cancelKeys.set(orderId, newKey());
  cancelBusy = true;
  confirm.disabled = true;
  keep.disabled = true;
  confirm.textContent = "Cancelling…";
  replace(document.getElementById("cancel-error"));
  try {
    const purchase = await api(`/api/v1/orders/${encodeURIComponent(orderId)}/cancel`, {
      method: "POST",
      idempotencyKey: cancelKeys.get(orderId),
    });
    cancelKeys.delete(orderId);
    const updated = await enrich(purchase).catch(() => ({ ...entry, purchase, details: new Map() }));
    updated.justCancelled = true;
    const fresh = rerender(updated);
    const message = `Order cancelled. ${money(refund)} will be refunded to the card you paid with; these tickets' codes no longer work.`;
    fresh.querySelector(".order-result").append(h("p", { class: "notice ok", role: "status" }, message));
    returnFocus = fresh.querySelector("h2");
    cancelBusy = false;
    closeDialog(cancelDialog);
    announce(message);
  } catch (error) {
    const api4xx = error instanceof ApiError && error.status < 500;
    // A definite "no" about this order (too late, a ticket used, not cancellable any more):
    // nothing to try again. Anything else may be tried again: after a lost answer or a server
    // error, or while the first request runs, with the same key (it cannot refund twice).
    const final = api4xx && ([409, 404, 410, 422].includes(error.status)) && error.code !== "idempotency_in_progress";
    if (api4xx && error.code !== "idempotency_in_progress") cancelKeys.delete(orderId);
    let text = error.message;
    if (final) {
      const fresh = await refused(entry, error);
      returnFocus = fresh.querySelector("h2");
    } else if (error instanceof ApiError && error.code === "idempotency_in_progress") {
      text = "Your cancellation is still being processed. Wait a moment, then press the button again to see how it went.";
    }
    cancelBusy = false;
    keep.disabled = false;
    confirm.disabled = false;
    confirm.textContent = "Cancel order and refund";
    if (final) {
      // Nothing left to confirm: the dialog only explains, and closes.
      confirm.hidden = true;
      keep.textContent = "Close";
    }
    replace(document.getElementById("cancel-error"), h("div", { class: "notice error", role: "alert" },
      h("strong", {}, "The order was not cancelled. "), text));
    if (cancelDialog.open) keep.focus();
  }
});

// ----- start -----

async function init() {
  setTitle("My tickets");
  try {
    await requireUser();
    await loadPage();
    list.setAttribute("aria-busy", "false");
    await highlightWanted();
  } catch (error) {
    list.setAttribute("aria-busy", "false");
    status.classList.remove("loading");
    status.textContent = "";
    showError(problem, new Error(`Your orders could not be loaded: ${error.message}`));
    problem.append(h("button", { type: "button", class: "secondary", onclick: () => location.reload() }, "Try again"));
  }
}

more.addEventListener("click", loadMore);
init();
