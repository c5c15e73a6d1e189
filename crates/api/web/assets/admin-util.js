// Helpers shared by the box office pages: form fields with labels and inline errors, form
// submission with status messages, exact money parsing, and dates in a venue's time zone.

import { ApiError, announce, errorBox, formatIn, h, replace } from "/assets/app.js";

let nextId = 0;
/** A unique element id. */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled form field: `{ label, name, type, value, hint, required, options, attrs }`.
 * `options` makes a <select> ([value, text] pairs or strings); `type: "textarea"` a textarea.
 * Returns { wrap, input, setError(text) }.
 */
export function field({ label, name, type = "text", value, hint, required, options, attrs = {}, className }) {
  const id = uid(name || "field");
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = `${id}-error`;
  let input;
  const common = { id, name, required: required || undefined, "aria-describedby": [hintId, errorId].filter(Boolean).join(" "), ...attrs };
  if (options) {
    input = h("select", common, options.map((option) => {
      const [optionValue, text] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: optionValue, selected: String(optionValue) === String(value ?? "") || undefined }, text);
    }));
  } else if (type === "textarea") {
    input = h("textarea", common);
    input.value = value ?? "";
  } else {
    input = h("input", { type, ...common });
    if (value !== undefined && value !== null) input.value = value;
  }
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const wrap = h("div", { class: ["field", className] },
    h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    input,
    error);
  function setError(text) {
    error.hidden = !text;
    error.textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  input.addEventListener("input", () => setError(""));
  return { wrap, input, setError };
}

/** A checkbox with its label after it. */
export function checkbox({ label, name, checked, hint }) {
  const id = uid(name || "check");
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h("input", { type: "checkbox", id, name, checked: checked || undefined, "aria-describedby": hintId });
  const wrap = h("div", { class: "field check" },
    h("div", { class: "check-line" }, input, h("label", { for: id }, label)),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null);
  return { wrap, input };
}

/** A message of success (role=status) or failure (role=alert). */
export function okBox(text) {
  return h("div", { class: "notice ok" }, text);
}

/** An error thrown by client-side checks: shown like an API error, with the field marked. */
export class FieldError extends Error {
  constructor(message, fieldApi) {
    super(message);
    this.field = fieldApi;
  }
}

/**
 * Wires a form: on submit, runs `action()` with the submit button busy; shows its result (a
 * string) as a success message in `status`, or the error (the API's detail) as an alert. The
 * form keeps its input on errors.
 */
export function onSubmit(form, status, action, { busyText = "Saving…" } = {}) {
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button?.getAttribute("aria-disabled") === "true") return;
    const label = button?.textContent;
    if (button) {
      button.setAttribute("aria-disabled", "true");
      button.textContent = busyText;
    }
    replace(status);
    try {
      show(status, await action());
    } catch (error) {
      if (error instanceof FieldError && error.field) {
        error.field.setError(error.message);
        error.field.input.focus();
      }
      replace(status, errorBox(describe(error)));
    } finally {
      if (button) {
        button.removeAttribute("aria-disabled");
        button.textContent = label;
      }
    }
  });
}

/** Shows an action's result: a text (as a success message) or a ready element; read out. */
function show(status, result) {
  if (!result) return;
  const node = result instanceof Node ? result : okBox(result);
  replace(status, node);
  announce(node.textContent);
}

/** Shows a success message (text or element) in a container, and reads it out. */
export function say(container, message) {
  show(container, message);
}

/** A success message with links or buttons in it. */
export function okNode(...children) {
  return h("div", { class: "notice ok" }, children);
}

/** A readable message for an error, with the API's detail. */
export function describe(error) {
  if (error instanceof ApiError) {
    const detail = error.problem?.detail || error.message;
    if (error.status === 401) return "Your session has ended. Log in again to continue.";
    if (error.status === 403) return `Not allowed: ${detail}`;
    return detail;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Runs an action from a button: busy while it runs, the result or error shown in `status`. */
export async function runAction(button, status, action, busyText = "Working…") {
  if (button.getAttribute("aria-disabled") === "true") return;
  const label = button.textContent;
  button.setAttribute("aria-disabled", "true");
  button.textContent = busyText;
  replace(status);
  try {
    show(status, await action());
  } catch (error) {
    replace(status, errorBox(describe(error)));
  } finally {
    if (button.isConnected) {
      button.removeAttribute("aria-disabled");
      button.textContent = label;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Money: decimal text ↔ integer minor units, exactly (string arithmetic, no floats).

/** How many minor digits a currency has (EUR 2, JPY 0, ...), as the pages format money. */
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** "12.50" (or "12,50") in `currency` → 1250. Throws a readable Error for anything else. */
export function parseAmount(text, currency) {
  const digits = currencyDigits(currency);
  const value = String(text).trim().replace(/\s+/g, "");
  if (value === "") throw new Error("Enter a price");
  const match = /^(\d+)(?:[.,](\d*))?$/.exec(value);
  if (!match) {
    throw new Error(`“${text}” is not a price: write it like ${digits ? "12.50" : "1200"}, without the currency sign or thousands separators`);
  }
  const fraction = match[2] || "";
  if (fraction.length > digits) {
    throw new Error(digits ? `A ${currency} price has at most ${digits} decimal places` : `A ${currency} price has no decimal places`);
  }
  const minor = BigInt(match[1]) * 10n ** BigInt(digits) + BigInt((fraction + "0".repeat(digits)).slice(0, digits) || "0");
  if (minor > 1_000_000_000_000n) throw new Error("That price is too large");
  return Number(minor);
}

/** 1250 in EUR → "12.50" (the way an admin types it). */
export function formatAmount(minor, currency) {
  const digits = currencyDigits(currency);
  const negative = minor < 0;
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, -digits) : text;
  const fraction = digits ? `.${text.slice(-digits)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

// ---------------------------------------------------------------------------------------------
// Time zones: the admin types wall-clock times of the venue's zone; the API wants UTC.

/** Every IANA zone the browser knows (for suggestions). */
export function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

/** Whether the browser knows the zone (the API checks it against the IANA database too). */
export function isTimeZone(zone) {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const partsFormats = new Map();
function partsIn(ms, timeZone) {
  let format = partsFormats.get(timeZone);
  if (!format) {
    format = formatIn("en-US", {
      hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }, timeZone);
    partsFormats.set(timeZone, format);
  }
  const parts = {};
  for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
  return parts;
}

function offsetMs(ms, timeZone) {
  const p = partsIn(ms, timeZone);
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** An instant → the wall clock in a zone: { date: "YYYY-MM-DD", time: "HH:MM" }. */
export function toZoned(instant, timeZone) {
  const p = partsIn(new Date(instant).getTime(), timeZone);
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${String(Number(p.hour) % 24).padStart(2, "0")}:${p.minute}` };
}

/** A wall-clock date and time in a zone → RFC 3339 UTC. Throws for times skipped by DST. */
export function fromZoned(date, time, timeZone) {
  const dateMatch = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date || "");
  const timeMatch = /^(\d{2}):(\d{2})/.exec(time || "");
  if (!dateMatch) throw new Error("Enter a date");
  if (!timeMatch) throw new Error("Enter a time");
  const local = Date.UTC(Number(dateMatch[1]), Number(dateMatch[2]) - 1, Number(dateMatch[3]), Number(timeMatch[1]), Number(timeMatch[2]));
  let guess = local - offsetMs(local, timeZone);
  guess = local - offsetMs(guess, timeZone);
  const back = toZoned(guess, timeZone);
  if (back.date !== date || back.time !== `${timeMatch[1]}:${timeMatch[2]}`) {
    throw new Error(`${date} ${timeMatch[1]}:${timeMatch[2]} does not exist in ${timeZone}: the clocks change then`);
  }
  return new Date(guess).toISOString();
}

/** A short zone name such as "CET" or "GMT+1" at an instant, for labels. */
export function zoneAbbreviation(timeZone, instant = Date.now()) {
  try {
    const part = new Intl.DateTimeFormat("en-GB", { timeZone, timeZoneName: "short" })
      .formatToParts(new Date(instant)).find((p) => p.type === "timeZoneName");
    return part ? part.value : timeZone;
  } catch {
    return timeZone;
  }
}

/** The browser's own zone. */
export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** A date and time with the zone named: "Tue 1 Dec, 20:00 (Europe/Berlin)". */
export function whenIn(iso, timeZone) {
  return formatIn("en-GB", {
    weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  }, timeZone).format(new Date(iso));
}

/** Integers with grouping. */
export function count(n) {
  return new Intl.NumberFormat().format(n);
}

/** "1 ticket" / "3 tickets". */
export function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${n === 1 ? one : many}`;
}
