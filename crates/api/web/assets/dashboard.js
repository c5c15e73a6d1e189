// The sales dashboard of one showtime (/admin/showtimes/{id}): sold, held, available and gross
// revenue, per category, the CSV, and a chart of sales over time. It refreshes live on the
// showtime's event stream (every sale, hold, release and refund), with polling as a fallback.

import { api, h, s, replace, requireUser, errorBox, money, segment, setTitle, announce, ApiError } from "/assets/app.js";

const id = segment(2);
const app = document.getElementById("app");
const title = document.getElementById("title");

const BUCKET_NAMES = { 60: "minute", 300: "5 minutes", 900: "15 minutes", 3600: "hour", 21600: "6 hours", 86400: "day" };
const fmt = (n) => new Intl.NumberFormat().format(n);
const percent = (part, whole) => (whole ? `${new Intl.NumberFormat(undefined, { maximumFractionDigits: part && part / whole < 0.01 ? 1 : 0 }).format((part / whole) * 100)}%` : "–");

function when(iso, timeZone, options = {}) {
  return new Intl.DateTimeFormat("en-GB", { timeZone, ...options }).format(new Date(iso));
}
/** A zone's short name at an instant: "CET" (or "GMT+1" where it has none). */
function zoneShort(timeZone, at) {
  return new Intl.DateTimeFormat("en-GB", { timeZone, timeZoneName: "short" }).formatToParts(at)
    .find((part) => part.type === "timeZoneName")?.value || timeZone;
}
function fullWhen(iso, timeZone) {
  return when(iso, timeZone, { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
}

async function main() {
  try {
    await requireUser(["admin"]);
  } catch (error) {
    app.classList.remove("loading");
    replace(app, errorBox(error), h("p", {}, "The sales dashboard needs an admin account. ", h("a", { href: "/" }, "Back to what's on")));
    return;
  }
  const view = {
    header: h("div", { class: "dash-header" }),
    live: h("p", { class: "live" }),
    tiles: h("div", { class: "tiles-wrap" }),
    chart: h("section", { class: "panel chart-panel", "aria-labelledby": "chart-title" }),
    categories: h("section", { class: "panel", "aria-labelledby": "categories-title" }),
    error: h("div", {}),
  };
  let showtime = null;
  let lastSold = null;
  let loaded = false;
  let zone = Intl.DateTimeFormat().resolvedOptions().timeZone; // the venue's, once known

  async function load() {
    const [report, sales, info] = await Promise.all([
      api(`/api/v1/admin/showtimes/${encodeURIComponent(id)}/report`),
      api(`/api/v1/admin/showtimes/${encodeURIComponent(id)}/sales`),
      showtime ? Promise.resolve(showtime) : api(`/api/v1/showtimes/${encodeURIComponent(id)}`).catch(() => null),
    ]);
    showtime = info;
    return { report, sales };
  }

  let lastData = null;
  /** The chart is drawn at the width it gets (its text stays readable on a phone). */
  const chartWidth = () => Math.max(300, Math.min(860, (app.clientWidth || 860) - 34));
  let resizeTimer = 0;
  let drawnWidth = 0;
  addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (lastData && Math.abs(chartWidth() - drawnWidth) > 40) render(lastData);
    }, 200);
  });

  function render(data) {
    lastData = data;
    drawnWidth = chartWidth();
    const { report, sales } = data;
    const tz = showtime?.venue?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone;
    zone = tz;
    const capacity = report.sold + report.held + report.available;
    setTitle(`Sales: ${report.event_title}`);
    title.textContent = report.event_title;
    replace(view.header,
      h("p", { class: "dash-when" }, fullWhen(report.starts_at, tz), " · ", `${report.venue}, ${report.hall}`),
      h("p", { class: "dash-badges" },
        showtime?.cancelled_at ? h("span", { class: "badge bad" }, `Cancelled ${fullWhen(showtime.cancelled_at, tz)}`) : saleBadge(showtime),
        " ", h("span", { class: "badge" }, `Times in ${tz}`)),
      h("p", { class: "actions dash-links" },
        h("a", { class: "button secondary", href: `/api/v1/admin/showtimes/${encodeURIComponent(id)}/report.csv`, download: `sales-${id}.csv` }, "Download CSV"),
        showtime?.cancelled_at ? null : h("a", { href: `/showtimes/${encodeURIComponent(id)}` }, "Public seat map"),
        h("a", { href: showtime ? `/admin#showtimes/${encodeURIComponent(showtime.event_id)}` : "/admin#showtimes" }, "Manage this showtime")));

    replace(view.tiles,
      h("dl", { class: "tiles" },
        tile("sold", "Sold", fmt(report.sold), `${percent(report.sold, capacity)} of ${fmt(capacity)}`),
        tile("gross", "Gross revenue", money(report.gross), report.sold ? `${money({ amount: Math.round(report.gross.amount / report.sold), currency: report.gross.currency })} a ticket on average` : "refunds excluded"),
        tile("held", "On hold", fmt(report.held), "in checkouts now"),
        tile("available", "Available", fmt(report.available), `${percent(report.available, capacity)} of ${fmt(capacity)}`)),
      capacityBar(report, capacity));

    const bucket = BUCKET_NAMES[sales.bucket_seconds] || `${sales.bucket_seconds} seconds`;
    replace(view.chart,
      h("h2", { id: "chart-title" }, "Sales over time"),
      sales.buckets.length
        ? [
          chartLegend(bucket, capacity, capacity <= sales.buckets[sales.buckets.length - 1].cumulative_tickets * 4),
          h("div", { class: "chart-box" }, drawChart(sales, capacity, tz, bucket, chartWidth())),
          h("details", { class: "chart-data" },
            h("summary", {}, `The numbers, per ${bucket}`),
            h("div", { class: "table-wrap" }, bucketTable(sales, tz, bucket))),
        ]
        : h("div", { class: "empty-chart" },
          showtime?.cancelled_at
            ? [h("p", {}, h("strong", {}, "No sales to show.")),
              h("p", { class: "muted" }, "The showtime is cancelled: its orders were refunded, and refunded tickets no longer count.")]
            : [h("p", {}, h("strong", {}, "No tickets sold yet.")),
              h("p", { class: "muted" }, "The chart of sales over time appears with the first sale, and follows the sale live.")]));

    replace(view.categories,
      h("h2", { id: "categories-title" }, "By category"),
      h("div", { class: "table-wrap" }, categoryTable(report, showtime)));

    if (lastSold !== null && report.sold !== lastSold) {
      const delta = report.sold - lastSold;
      announce(delta > 0 ? `${fmt(delta)} more sold: ${fmt(report.sold)} in total` : `${fmt(-delta)} refunded: ${fmt(report.sold)} sold now`);
    }
    lastSold = report.sold;
  }

  // Refreshing: one load at a time; changes arriving meanwhile ask for one more.
  let running = false;
  let again = false;
  let timer = 0;
  let mode = "connecting";
  let updatedAt = null;
  function showLive() {
    // In the zone of the chart and the figures beside it (the venue's), and named.
    const stamp = updatedAt
      ? `updated ${when(updatedAt, zone, { hour: "2-digit", minute: "2-digit", second: "2-digit" })} ${zoneShort(zone, updatedAt)}`
      : "";
    const label = { live: "Live", polling: "Refreshing every 10 seconds", connecting: "Connecting…", failed: "Not updating" }[mode];
    replace(view.live, h("span", { class: ["dot", mode], "aria-hidden": "true" }), ` ${label}${stamp ? ` · ${stamp}` : ""} `,
      h("button", { type: "button", class: "link", onclick: () => refresh() }, "Refresh now"));
  }
  async function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const data = await load();
      render(data);
      replace(view.error);
      updatedAt = new Date();
    } catch (error) {
      replace(view.error, errorBox(`Could not refresh the figures: ${error.message}`));
    } finally {
      running = false;
      showLive();
      if (again) {
        again = false;
        schedule(500);
      }
    }
  }
  function schedule(delay = 1000) {
    if (timer) return;
    timer = setTimeout(() => {
      timer = 0;
      refresh();
    }, delay);
  }

  // First load: a failure says what failed.
  try {
    render(await load());
    updatedAt = new Date();
    loaded = true;
  } catch (error) {
    app.classList.remove("loading");
    const text = error instanceof ApiError && error.status === 404
      ? "There is no such showtime."
      : `Could not load the sales of this showtime: ${error.message}`;
    title.textContent = "Sales dashboard";
    replace(app, errorBox(text), h("p", {}, h("a", { href: "/admin#showtimes" }, "Back to the box office")));
    return;
  }
  app.classList.remove("loading");
  replace(app, view.header, view.live, view.error, view.tiles, view.chart, view.categories);

  // Live: the showtime's event stream; every inventory change refreshes the figures.
  let poll = 0;
  const startPolling = () => {
    mode = "polling";
    showLive();
    if (!poll) poll = setInterval(refresh, 10_000);
  };
  if (loaded && "EventSource" in window) {
    const stream = new EventSource(`/api/v1/showtimes/${encodeURIComponent(id)}/stream`);
    stream.addEventListener("open", () => {
      mode = "live";
      showLive();
    });
    stream.addEventListener("snapshot", () => {
      mode = "live";
      showLive();
    });
    stream.addEventListener("inventory", () => schedule(800));
    stream.addEventListener("error", () => {
      // The browser reconnects by itself (resuming with Last-Event-ID); when it gives up, poll.
      if (stream.readyState === EventSource.CLOSED) startPolling();
      else {
        mode = "connecting";
        showLive();
      }
    });
    // A slow safety net: figures that change without a stream event (none today) still show.
    setInterval(() => mode === "live" && refresh(), 60_000);
    addEventListener("pagehide", () => stream.close());
  } else {
    startPolling();
  }
  showLive();
}

function saleBadge(showtime) {
  if (!showtime) return null;
  const now = Date.now();
  if (Date.parse(showtime.starts_at) <= now) return h("span", { class: "badge" }, "Past");
  if (Date.parse(showtime.on_sale_from) > now) return h("span", { class: "badge warn" }, "Not on sale yet");
  if (Date.parse(showtime.on_sale_until) <= now) return h("span", { class: "badge" }, "Sales ended");
  if (showtime.seats_available === 0) return h("span", { class: "badge bad" }, "Sold out");
  return h("span", { class: "badge ok" }, "On sale");
}

function tile(key, label, value, note) {
  return h("div", { class: ["tile", key], "data-stat": key },
    h("dt", {}, label),
    h("dd", {}, h("span", { class: "value" }, value), h("span", { class: "note" }, note)));
}

function capacityBar(report, capacity) {
  const bar = h("div", { class: "capacity-bar", "aria-hidden": "true" });
  for (const [key, n] of [["sold", report.sold], ["held", report.held], ["available", report.available]]) {
    if (!n) continue;
    const part = h("span", { class: key });
    part.style.width = `${(n / capacity) * 100}%`;
    bar.append(part);
  }
  return h("div", { class: "capacity" }, bar,
    h("p", { class: "capacity-legend", "aria-hidden": "true" },
      h("span", { class: "key sold" }), " sold ", h("span", { class: "key held" }), " on hold ", h("span", { class: "key available" }), " available"));
}

function categoryTable(report, showtime) {
  const prices = new Map((showtime?.prices || []).map((p) => [p.category, p.price]));
  return h("table", { class: "categories" },
    h("caption", { class: "visually-hidden" }, "Sales per category"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Category"), h("th", { scope: "col", class: "num" }, "Price now"), h("th", { scope: "col", class: "num" }, "Sold"), h("th", { scope: "col", class: "num" }, "On hold"),
      h("th", { scope: "col", class: "num" }, "Available"), h("th", { scope: "col", class: "num" }, "Gross"), h("th", { scope: "col" }, "Sold share"))),
    h("tbody", {}, report.categories.map((row) => {
      const total = row.sold + row.held + row.available;
      const fill = h("span", {});
      fill.style.width = total ? `${(row.sold / total) * 100}%` : "0";
      return h("tr", {},
        h("th", { scope: "row" }, row.category),
        h("td", { class: "num", "data-label": "Price now" }, prices.has(row.category) ? money(prices.get(row.category)) : "–"),
        h("td", { class: "num", "data-label": "Sold" }, fmt(row.sold)),
        h("td", { class: "num", "data-label": "On hold" }, fmt(row.held)),
        h("td", { class: "num", "data-label": "Available" }, fmt(row.available)),
        h("td", { class: "num", "data-label": "Gross" }, money(row.gross)),
        h("td", { class: "share", "data-label": "Sold share" }, h("span", { class: "mini-bar", "aria-hidden": "true" }, fill), ` ${percent(row.sold, total)}`));
    })),
    h("tfoot", {}, h("tr", {},
      h("th", { scope: "row" }, "Total"), h("td", {}),
      h("td", { class: "num", "data-label": "Sold" }, fmt(report.sold)), h("td", { class: "num", "data-label": "On hold" }, fmt(report.held)),
      h("td", { class: "num", "data-label": "Available" }, fmt(report.available)), h("td", { class: "num", "data-label": "Gross" }, money(report.gross)),
      h("td", { class: "share", "data-label": "Sold share" }, percent(report.sold, report.sold + report.held + report.available)))));
}

// ---------------------------------------------------------------------------------------------
// The chart

/** An axis from 0 past `value`: a round step (1, 2, 2.5 or 5 times a power of ten, at least 1)
 *  and the smallest multiple of it that reaches the value. */
function axis(value, count = 4) {
  const raw = Math.max(value, 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((k) => k * power).find((k) => k >= raw);
  step = Math.max(1, step);
  if (!Number.isInteger(step)) step = Math.ceil(step);
  const max = Math.max(step, Math.ceil(value / step - 1e-9) * step);
  const marks = [];
  for (let v = 0; v <= max; v += step) marks.push(v);
  return { max, marks };
}

function chartLegend(bucket, capacity, onScale) {
  return h("ul", { class: "chart-legend", "aria-hidden": "true" },
    h("li", {}, h("span", { class: "key bars" }), `Tickets per ${bucket} (right scale)`),
    h("li", {}, h("span", { class: "key line" }), "Total sold (left scale)"),
    onScale ? h("li", {}, h("span", { class: "key cap" }), `Capacity (${fmt(capacity)})`) : null);
}

function drawChart(sales, capacity, tz, bucket, W) {
  const narrow = W < 560;
  const H = narrow ? 260 : 320;
  const m = narrow ? { left: 44, right: 36, top: 24, bottom: 46 } : { left: 58, right: 52, top: 24, bottom: 46 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const width = sales.bucket_seconds * 1000;
  const buckets = sales.buckets.map((b) => ({ ...b, t: Date.parse(b.from) }));
  const t0 = buckets[0].t;
  const t1 = buckets[buckets.length - 1].t + width;
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * pw;
  const total = buckets[buckets.length - 1].cumulative_tickets;
  const peak = Math.max(...buckets.map((b) => b.tickets));
  // The capacity is drawn as a line when the sale is far enough along to see it next to it.
  const capacityOnScale = capacity > 0 && capacity <= total * 4;
  const left = axis(capacityOnScale ? capacity : total * 1.25);
  const right = axis(peak * 1.15);
  const leftMax = left.max;
  const rightMax = right.max;
  const yl = (v) => m.top + ph - (v / leftMax) * ph;
  const yr = (v) => m.top + ph - (v / rightMax) * ph;
  const slot = (width / (t1 - t0)) * pw;
  const barWidth = Math.max(2, Math.min(slot * 0.8, 60));
  const span = t1 - t0;
  const timeLabel = (t) => span <= 36 * 3600_000
    ? when(new Date(t).toISOString(), tz, { hour: "2-digit", minute: "2-digit" })
    : when(new Date(t).toISOString(), tz, { day: "numeric", month: "short" }) + (sales.bucket_seconds < 86400 ? ` ${when(new Date(t).toISOString(), tz, { hour: "2-digit", minute: "2-digit" })}` : "");
  const range = (b) => `${when(b.from, tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}–${when(new Date(b.t + width).toISOString(), tz, { hour: "2-digit", minute: "2-digit" })}`;

  const grid = left.marks.map((v) => s("g", {},
    s("line", { x1: m.left, x2: W - m.right, y1: yl(v), y2: yl(v), stroke: "#e3e3ea", "stroke-width": 1 }),
    s("text", { x: m.left - 8, y: yl(v) + 4, "text-anchor": "end", class: "tick" }, fmt(v))));
  const rightTicks = right.marks.map((v) =>
    s("text", { x: W - m.right + 8, y: yr(v) + 4, class: "tick" }, fmt(v)));
  // Time ticks on bucket boundaries, at most 3 (phone) or 6 of them.
  const slots = Math.round(span / width);
  const every = Math.max(1, Math.ceil(slots / (narrow ? 3 : 6)));
  const xTicks = [];
  for (let k = 0; k * every <= slots; k++) {
    const t = t0 + k * every * width;
    const edge = k === 0 ? "start" : t >= t1 ? "end" : "middle";
    xTicks.push(s("g", {},
      s("line", { x1: x(t), x2: x(t), y1: m.top + ph, y2: m.top + ph + 5, stroke: "#50505a" }),
      s("text", { x: x(t), y: m.top + ph + 20, "text-anchor": edge, class: "tick" }, timeLabel(t))));
  }

  const bars = buckets.map((b) => s("rect", {
    class: "bar", x: x(b.t) + (slot - barWidth) / 2, y: yr(b.tickets), width: barWidth, height: Math.max(1, m.top + ph - yr(b.tickets)), rx: 2,
  }, s("title", {}, `${range(b)}: ${fmt(b.tickets)} ${b.tickets === 1 ? "ticket" : "tickets"}, ${money(b.gross)}; ${fmt(b.cumulative_tickets)} in total`)));

  let path = `M${x(t0)},${yl(0)}`;
  let previous = 0;
  for (const b of buckets) {
    path += ` L${x(b.t)},${yl(previous)} L${x(b.t + width)},${yl(b.cumulative_tickets)}`;
    previous = b.cumulative_tickets;
  }
  const area = `${path} L${x(t1)},${yl(0)} Z`;
  const lastX = x(t1);
  const lastY = yl(total);

  const capacityMark = capacityOnScale
    ? s("g", { class: "capacity-line" },
      s("line", { x1: m.left, x2: W - m.right, y1: yl(capacity), y2: yl(capacity) }),
      s("text", { x: m.left + 6, y: yl(capacity) - 6, class: "cap-label" }, `Capacity ${fmt(capacity)}`))
    : s("text", { x: W - m.right, y: m.top - 8, "text-anchor": "end", class: "cap-label" }, `Capacity ${fmt(capacity)}: above this scale`);

  const busiest = buckets.reduce((a, b) => (b.tickets > a.tickets ? b : a));
  const description = `${fmt(total)} ${total === 1 ? "ticket" : "tickets"} sold between ${when(buckets[0].from, tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })} and ${when(new Date(t1).toISOString(), tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })} (${tz}), ${percent(total, capacity)} of a capacity of ${fmt(capacity)}. Busiest ${bucket}: ${fmt(busiest.tickets)} at ${range(busiest)}.`;

  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "sales-chart", role: "img", "aria-labelledby": "chart-svg-title chart-svg-desc", "font-family": "system-ui, sans-serif" },
    s("title", { id: "chart-svg-title" }, `Sales over time, per ${bucket}`),
    s("desc", { id: "chart-svg-desc" }, description),
    grid,
    s("path", { d: area, class: "area" }),
    bars,
    s("path", { d: path, class: "line" }),
    s("circle", { cx: lastX, cy: lastY, r: 4, class: "point" }),
    s("text", { x: Math.min(lastX, W - m.right - 4), y: lastY - 10, "text-anchor": "end", class: "point-label" }, `${fmt(total)} sold`),
    capacityMark,
    s("line", { x1: m.left, x2: W - m.right, y1: m.top + ph, y2: m.top + ph, stroke: "#50505a" }),
    xTicks,
    rightTicks,
    s("text", { x: 14, y: m.top + ph / 2, transform: `rotate(-90 14 ${m.top + ph / 2})`, "text-anchor": "middle", class: "axis-label" }, "Total sold"),
    s("text", { x: W - 10, y: m.top + ph / 2, transform: `rotate(90 ${W - 10} ${m.top + ph / 2})`, "text-anchor": "middle", class: "axis-label" }, `Per ${bucket}`),
    s("text", { x: m.left + pw / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, `Time (${tz})`));
}

function bucketTable(sales, tz, bucket) {
  const width = sales.bucket_seconds * 1000;
  return h("table", { class: "buckets" },
    h("caption", {}, `Tickets sold per ${bucket} (${tz}), oldest first. Periods without sales are left out.`),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "From"), h("th", { scope: "col" }, "To"), h("th", { scope: "col", class: "num" }, "Tickets"),
      h("th", { scope: "col", class: "num" }, "Gross"), h("th", { scope: "col", class: "num" }, "Total sold"))),
    h("tbody", {}, sales.buckets.map((b) => h("tr", {},
      h("td", {}, when(b.from, tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })),
      h("td", {}, when(new Date(Date.parse(b.from) + width).toISOString(), tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })),
      h("td", { class: "num" }, fmt(b.tickets)),
      h("td", { class: "num" }, money(b.gross)),
      h("td", { class: "num" }, fmt(b.cumulative_tickets))))));
}

main();
