// The hall layout editor: a JSON textarea with a live preview. As the admin types, the JSON is
// parsed (by a small parser that remembers where every value starts, so errors name a line and
// column), checked with the same rules as the server (crates/domain/src/catalog.rs), and the
// hall is drawn as SVG: sections, rows, seats coloured by category, accessible seats marked,
// general-admission sections as labelled boxes with their capacity.

import { h, s, replace } from "/assets/app.js";
import { count, uid } from "/assets/admin-util.js";

export const MAX_PLACES_PER_HALL = 100_000;
export const MAX_SEATS_PER_ROW = 500;

/** An error at a place in the JSON text. */
export class LayoutError extends Error {
  constructor(message, offset) {
    super(message);
    this.offset = offset;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON with positions

/**
 * Parses JSON text. Returns { value, where } where `where(container, key)` is the offset of a
 * member's value (or of the container itself without a key). Throws LayoutError.
 */
export function parseJson(text) {
  const positions = new WeakMap();
  let i = 0;

  const fail = (message, at = i) => {
    throw new LayoutError(message, at);
  };
  const describeChar = (at) => (at >= text.length ? "the end of the text" : `“${text[at]}”`);
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };

  function value() {
    space();
    const start = i;
    const char = text[i];
    if (char === "{") return object(start);
    if (char === "[") return array(start);
    if (char === '"') return string();
    if (char === "-" || (char >= "0" && char <= "9")) return number();
    for (const [word, result] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return result;
      }
    }
    if (char === "'") fail("JSON strings need double quotes (\"), not single quotes");

    return fail(`Expected a value, found ${describeChar(i)}`);
  }

  function object(start) {
    const result = {};
    const keys = new Map();
    positions.set(result, { start, keys });
    i++;
    space();
    if (text[i] === "}") {
      i++;
      return result;
    }
    for (;;) {
      space();
      if (text[i] !== '"') {
        if (text[i] === "}") fail("Remove the comma before “}”: JSON allows no trailing comma");
        if (text[i] === "'") fail("JSON names need double quotes (\"), not single quotes");
        fail(`Expected a name in double quotes, found ${describeChar(i)}`);
      }
      const keyAt = i;
      const key = string();
      space();
      if (text[i] !== ":") fail(`Expected “:” after "${key}", found ${describeChar(i)}`);
      i++;
      space();
      const valueAt = i;
      if (keys.has(key)) fail(`"${key}" appears twice in this object`, keyAt);
      result[key] = value();
      keys.set(key, valueAt);
      space();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return result;
      }
      fail(`Expected “,” or “}” after the value of "${key}", found ${describeChar(i)}`);
    }
  }

  function array(start) {
    const result = [];
    const keys = new Map();
    positions.set(result, { start, keys });
    i++;
    space();
    if (text[i] === "]") {
      i++;
      return result;
    }
    for (;;) {
      space();
      if (text[i] === "]") fail("Remove the comma before “]”: JSON allows no trailing comma");
      keys.set(result.length, i);
      result.push(value());
      space();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return result;
      }
      fail(`Expected “,” or “]” in the list, found ${describeChar(i)}`);
    }
  }

  function string() {
    const start = i;
    i++;
    let out = "";
    for (;;) {
      if (i >= text.length) fail("This string is never closed (a missing \")", start);
      const char = text[i];
      if (char === '"') {
        i++;
        return out;
      }
      if (char === "\n" || char < " ") fail("A line break inside a string: close it with \" first");
      if (char === "\\") {
        const next = text[i + 1];
        const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (next in simple) {
          out += simple[next];
          i += 2;
        } else if (next === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          fail("An invalid escape sequence in a string");
        }
      } else {
        out += char;
        i++;
      }
    }
  }

  function number() {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!match) fail("A malformed number");
    i += match[0].length;
    return Number(match[0]);
  }

  const result = value();
  space();
  if (i < text.length) fail(`Unexpected ${describeChar(i)} after the end of the JSON`);
  return {
    value: result,
    where(container, key) {
      const entry = container && typeof container === "object" ? positions.get(container) : undefined;
      if (!entry) return 0;
      if (key === undefined) return entry.start;
      return entry.keys.has(key) ? entry.keys.get(key) : entry.start;
    },
  };
}

/** 1-based line and column of an offset. */
export function lineColumn(text, offset) {
  let line = 1;
  let column = 1;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === "\n") {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  return { line, column };
}

// ---------------------------------------------------------------------------------------------
// Checking: the server's rules (serde's shape, then HallLayout::validate)

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const typeName = (v) => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v === "string" ? "text" : typeof v);

const CATEGORY = /^[a-z0-9_-]{1,32}$/;

/**
 * Checks a parsed layout. Returns { layout, categories (Map name → places), seats, standing,
 * warnings: [{message, offset}] }, or throws LayoutError with the offset of the culprit.
 */
export function checkLayout({ value, where }) {
  const warnings = [];
  const need = (container, key, test, what) => {
    if (!(key in container)) throw new LayoutError(`${what.context}: missing "${key}"`, where(container));
    const v = container[key];
    if (!test(v)) throw new LayoutError(`${what.context}: "${key}" must be ${what.expect}, not ${typeName(v)}`, where(container, key));
    return v;
  };
  const u32 = (v) => Number.isInteger(v) && v >= 0 && v <= 4294967295;
  const unknown = (container, known, context) => {
    for (const key of Object.keys(container)) {
      if (!known.includes(key)) warnings.push({ message: `${context}: "${key}" is not a layout field and is ignored`, offset: where(container, key) });
    }
  };
  const category = (container, key, context) => {
    const v = need(container, key, (x) => typeof x === "string", { context, expect: "text" });
    if (!CATEGORY.test(v)) {
      throw new LayoutError(`${context}: category "${v}" must be 1-32 lower-case letters, digits, “_” or “-”`, where(container, key));
    }
    return v;
  };

  if (!isObject(value)) throw new LayoutError(`The layout must be an object like {"sections": [...]}, not ${typeName(value)}`, 0);
  const sections = need(value, "sections", Array.isArray, { context: "The layout", expect: "a list of sections" });
  unknown(value, ["sections"], "The layout");
  if (sections.length === 0) throw new LayoutError("A layout needs at least one section", where(value, "sections"));

  const names = new Set();
  const categories = new Map();
  const add = (name, n) => categories.set(name, (categories.get(name) || 0) + n);
  let total = 0;
  let seats = 0;
  let standing = 0;
  sections.forEach((section, index) => {
    let context = `Section ${index + 1}`;
    if (!isObject(section)) throw new LayoutError(`${context} must be an object, not ${typeName(section)}`, where(sections, index));
    const name = need(section, "name", (x) => typeof x === "string", { context, expect: "text" });
    const trimmed = name.trim();
    if (trimmed.length === 0 || new TextEncoder().encode(trimmed).length > 64) {
      throw new LayoutError(`${context}: section names must have 1 to 64 characters`, where(section, "name"));
    }
    context = `Section "${trimmed}"`;
    if (names.has(trimmed.toLowerCase())) throw new LayoutError(`Duplicate section "${trimmed}"`, where(section, "name"));
    names.add(trimmed.toLowerCase());
    const kind = need(section, "kind", (x) => typeof x === "string", { context, expect: "\"seated\" or \"general_admission\"" });
    if (kind === "general_admission") {
      unknown(section, ["name", "kind", "capacity", "category"], context);
      const capacity = need(section, "capacity", u32, { context, expect: "a whole number" });
      const cat = category(section, "category", context);
      if (capacity === 0) throw new LayoutError(`${context} has no capacity`, where(section, "capacity"));
      total += capacity;
      standing += capacity;
      add(cat, capacity);
    } else if (kind === "seated") {
      unknown(section, ["name", "kind", "rows"], context);
      const rows = need(section, "rows", Array.isArray, { context, expect: "a list of rows" });
      if (rows.length === 0) throw new LayoutError(`${context} has no rows`, where(section, "rows"));
      const labels = new Set();
      rows.forEach((row, rowIndex) => {
        let rowContext = `${context}, row ${rowIndex + 1}`;
        if (!isObject(row)) throw new LayoutError(`${rowContext} must be an object, not ${typeName(row)}`, where(rows, rowIndex));
        unknown(row, ["label", "category", "seats", "first_number", "gaps_after", "overrides"], rowContext);
        const label = need(row, "label", (x) => typeof x === "string", { context: rowContext, expect: "text" }).trim();
        const rowCategory = category(row, "category", rowContext);
        const seatCount = need(row, "seats", u32, { context: rowContext, expect: "a whole number" });
        const first = "first_number" in row ? need(row, "first_number", u32, { context: rowContext, expect: "a whole number" }) : 1;
        const gaps = "gaps_after" in row ? need(row, "gaps_after", (x) => Array.isArray(x) && x.every(u32), { context: rowContext, expect: "a list of seat numbers" }) : [];
        const overrides = "overrides" in row ? need(row, "overrides", Array.isArray, { context: rowContext, expect: "a list" }) : [];
        if (label.length === 0 || new TextEncoder().encode(label).length > 8) {
          throw new LayoutError(`Row labels in "${trimmed}" must have 1 to 8 characters`, where(row, "label"));
        }
        rowContext = `Row "${label}" of "${trimmed}"`;
        if (labels.has(label)) throw new LayoutError(`Duplicate row "${label}" in section "${trimmed}"`, where(row, "label"));
        labels.add(label);
        if (seatCount === 0) throw new LayoutError(`${rowContext} is empty: "seats" must be at least 1`, where(row, "seats"));
        if (seatCount > MAX_SEATS_PER_ROW) throw new LayoutError(`${rowContext} is too long: at most ${MAX_SEATS_PER_ROW} seats a row`, where(row, "seats"));
        if (first > 10_000) throw new LayoutError(`${rowContext}: "first_number" must be at most 10000`, where(row, "first_number"));
        const last = first + seatCount - 1;
        const byNumber = new Map();
        overrides.forEach((override, k) => {
          const oContext = `${rowContext}, override ${k + 1}`;
          if (!isObject(override)) throw new LayoutError(`${oContext} must be an object like {"number": 1, "category": "accessible"}`, where(overrides, k));
          unknown(override, ["number", "category"], oContext);
          const number = need(override, "number", u32, { context: oContext, expect: "a seat number" });
          const cat = category(override, "category", oContext);
          if (number < first || number > last) throw new LayoutError(`${rowContext} has no seat ${number}`, where(override, "number"));
          if (byNumber.has(number)) throw new LayoutError(`Duplicate seat ${number} in row "${label}"`, where(override, "number"));
          byNumber.set(number, cat);
        });
        for (const gap of gaps) {
          if (gap < first || gap >= last) {
            warnings.push({ message: `${rowContext}: a gap after seat ${gap} is outside the row and is not drawn`, offset: where(row, "gaps_after") });
          }
        }
        // The row's category needs a price even when every seat is overridden.
        add(rowCategory, seatCount - byNumber.size);
        for (const cat of byNumber.values()) add(cat, 1);
        total += seatCount;
        seats += seatCount;
      });
    } else {
      throw new LayoutError(`${context}: "kind" must be "seated" or "general_admission", not "${kind}"`, where(section, "kind"));
    }
    if (total > MAX_PLACES_PER_HALL) {
      throw new LayoutError(`A hall may have at most ${count(MAX_PLACES_PER_HALL)} places`, where(sections, index));
    }
  });
  return { layout: value, categories, seats, standing, total, warnings };
}

// ---------------------------------------------------------------------------------------------
// Colours

const KNOWN_COLOURS = {
  standard: "#5b6b82",
  premium: "#b45309",
  accessible: "#1a56db",
  wheelchair: "#1a56db",
  vip: "#7e22ce",
  floor: "#0f766e",
  standing: "#0f766e",
  lower: "#9d174d",
  upper: "#4d7c0f",
};
const PALETTE = ["#0f766e", "#9d174d", "#4d7c0f", "#7e22ce", "#c2410c", "#0e7490", "#a16207", "#be123c", "#4338ca", "#15803d"];

/** Whether seats of a category are for wheelchair users and companions (drawn as circles). */
export function isAccessible(category) {
  return /access|wheel/i.test(category);
}

/** A stable colour per category of a layout. */
export function colours(names) {
  const categoryNames = [...names].sort();
  const map = new Map();
  const used = new Set();
  for (const name of categoryNames) {
    const known = KNOWN_COLOURS[name] || (isAccessible(name) ? KNOWN_COLOURS.accessible : undefined);
    if (known && !used.has(known)) {
      map.set(name, known);
      used.add(known);
    }
  }
  let k = 0;
  for (const name of categoryNames) {
    if (map.has(name)) continue;
    let colour = PALETTE[k % PALETTE.length];
    for (let tries = 0; used.has(colour) && tries < PALETTE.length; tries++) colour = PALETTE[++k % PALETTE.length];
    map.set(name, colour);
    used.add(colour);
    k++;
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// Drawing

const PITCH = 12;
const SEAT = 9;
const LABEL = 18;
const HEADER = 18;
const GAP = 28;
/** Above this many seats rows are drawn as runs of one colour, not seat by seat. */
const SEAT_BY_SEAT = 4000;

/** Draws a checked layout as an SVG element. */
export function drawLayout(checked, { title = "Hall preview" } = {}) {
  const { layout, categories } = checked;
  const palette = colours([...categories.keys()]);
  const bySeat = checked.seats <= SEAT_BY_SEAT;

  // Measure every section.
  const boxes = layout.sections.map((section) => {
    if (section.kind === "general_admission") {
      // About half the floor space a seat takes per standing place, at least big enough to label.
      const area = section.capacity * PITCH * PITCH * 0.5;
      const w = Math.max(150, Math.sqrt(area * 2));
      return { section, width: w, height: Math.max(64, area / w) };
    }
    let columns = 0;
    for (const row of section.rows) {
      const first = row.first_number ?? 1;
      const gaps = (row.gaps_after || []).filter((g) => g >= first && g < first + row.seats - 1).length;
      columns = Math.max(columns, row.seats + gaps);
    }
    return { section, columns, width: columns * PITCH + 2 * LABEL, height: HEADER + section.rows.length * PITCH + 4 };
  });

  // Shelf packing: left to right, wrapping at a width that keeps the drawing roughly 3:2.
  const area = boxes.reduce((sum, b) => sum + (b.width + GAP) * (b.height + GAP), 0);
  const widest = Math.max(...boxes.map((b) => b.width));
  const target = Math.max(widest, Math.sqrt(area * 1.6), 260);
  const shelves = [];
  let shelf = null;
  for (const box of boxes) {
    if (!shelf || shelf.width + GAP + box.width > target) {
      shelf = { items: [], width: -GAP, height: 0 };
      shelves.push(shelf);
    }
    shelf.items.push(box);
    shelf.width += GAP + box.width;
    shelf.height = Math.max(shelf.height, box.height);
  }
  const width = Math.max(...shelves.map((sh) => sh.width)) + 2 * GAP / 2;
  const stageHeight = 22;
  let y = stageHeight + GAP;
  for (const sh of shelves) {
    let x = (width - sh.width) / 2;
    for (const box of sh.items) {
      box.x = x;
      box.y = y + (sh.height - box.height) / 2;
      x += box.width + GAP;
    }
    y += sh.height + GAP;
  }
  const height = y - GAP / 2;

  const children = [];
  children.push(s("rect", { x: width * 0.2, y: 4, width: width * 0.6, height: stageHeight - 6, rx: 4, fill: "#1b1b1f" }));
  children.push(s("text", { x: width / 2, y: stageHeight - 6, "text-anchor": "middle", fill: "#fff", "font-size": 10, "font-weight": 700 }, "STAGE / SCREEN"));

  for (const box of boxes) {
    const { section } = box;
    const name = section.name.trim();
    if (section.kind === "general_admission") {
      const colour = palette.get(section.category);
      children.push(s("g", { class: "ga" },
        s("title", {}, `${name}: general admission, ${count(section.capacity)} places, ${section.category}`),
        s("rect", { x: box.x, y: box.y, width: box.width, height: box.height, rx: 8, fill: colour, "fill-opacity": 0.18, stroke: colour, "stroke-width": 2, "stroke-dasharray": "6 4" }),
        s("text", { x: box.x + box.width / 2, y: box.y + box.height / 2 - 4, "text-anchor": "middle", "font-size": 12, "font-weight": 700, fill: "#1b1b1f" }, name),
        s("text", { x: box.x + box.width / 2, y: box.y + box.height / 2 + 12, "text-anchor": "middle", "font-size": 10, fill: "#1b1b1f" }, `${count(section.capacity)} standing · ${section.category}`)));
      continue;
    }
    const group = [s("text", { x: box.x + box.width / 2, y: box.y + 11, "text-anchor": "middle", "font-size": 11, "font-weight": 700, fill: "#1b1b1f" }, name)];
    section.rows.forEach((row, rowIndex) => {
      const first = row.first_number ?? 1;
      const last = first + row.seats - 1;
      const gaps = new Set(row.gaps_after || []);
      const overrides = new Map((row.overrides || []).map((o) => [o.number, o.category]));
      const rowWidth = (row.seats + [...gaps].filter((g) => g >= first && g < last).length) * PITCH;
      const x0 = box.x + LABEL + ((box.width - 2 * LABEL) - rowWidth) / 2;
      const rowY = box.y + HEADER + rowIndex * PITCH;
      const label = row.label.trim();
      group.push(s("text", { x: box.x + LABEL - 4, y: rowY + SEAT - 1, "text-anchor": "end", "font-size": 8, fill: "#50505a" }, label));
      group.push(s("text", { x: box.x + box.width - LABEL + 4, y: rowY + SEAT - 1, "font-size": 8, fill: "#50505a" }, label));
      let column = 0;
      let run = null;
      const flush = () => {
        if (!run) return;
        group.push(s("rect", { x: x0 + run.from * PITCH, y: rowY, width: (run.to - run.from) * PITCH + SEAT, height: SEAT, rx: 2, fill: palette.get(run.category) },
          s("title", {}, `${name} row ${label}, seats ${run.firstSeat}–${run.lastSeat}: ${run.category}`)));
        run = null;
      };
      for (let number = first; number <= last; number++) {
        const cat = overrides.get(number) || row.category;
        const cx = x0 + column * PITCH;
        if (bySeat) {
          const fill = palette.get(cat);
          if (isAccessible(cat)) {
            group.push(s("circle", { cx: cx + SEAT / 2, cy: rowY + SEAT / 2, r: SEAT / 2 + 0.5, fill, stroke: "#1b1b1f", "stroke-width": 1.2, class: "seat accessible" },
              s("title", {}, `${name} ${label}${number}: ${cat} (accessible)`)));
          } else {
            group.push(s("rect", { x: cx, y: rowY, width: SEAT, height: SEAT, rx: 2, fill, class: "seat" },
              s("title", {}, `${name} ${label}${number}: ${cat}`)));
          }
        } else if (run && run.category === cat && run.to === column - 1) {
          run.to = column;
          run.lastSeat = number;
        } else {
          flush();
          run = { category: cat, from: column, to: column, firstSeat: number, lastSeat: number };
        }
        column += gaps.has(number) && number < last ? 2 : 1;
      }
      flush();
    });
    children.push(s("g", { class: "section" }, group));
  }

  const summary = describeLayout(checked);
  const titleId = uid("svg-title");
  const descId = uid("svg-desc");
  return s("svg", {
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, class: "hall-svg", role: "img",
    // Drawn at most at twice its natural size (small halls), shrunk to fit (big ones).
    width: Math.ceil(width * 2), height: Math.ceil(height * 2),
    "aria-labelledby": `${titleId} ${descId}`, "font-family": "system-ui, sans-serif",
  }, s("title", { id: titleId }, title), s("desc", { id: descId }, summary), children);
}

/** One sentence about a layout: its sections and places. */
export function describeLayout(checked) {
  const sections = checked.layout.sections.length;
  const parts = [];
  if (checked.seats) parts.push(`${count(checked.seats)} seats`);
  if (checked.standing) parts.push(`${count(checked.standing)} standing places`);
  const cats = [...checked.categories.entries()].map(([name, n]) => `${name} ${count(n)}`).join(", ");
  return `${sections} ${sections === 1 ? "section" : "sections"}, ${parts.join(" and ")}: ${cats}.`;
}

/** A legend table: colour, category, places. */
export function legend(checked) {
  const palette = colours([...checked.categories.keys()]);
  return h("table", { class: "legend" },
    h("caption", { class: "visually-hidden" }, "Places per category"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Category"), h("th", { scope: "col", class: "num" }, "Places"))),
    h("tbody", {}, [...checked.categories.entries()].map(([name, n]) =>
      h("tr", {},
        h("td", {},
          s("svg", { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true", class: "swatch" },
            isAccessible(name)
              ? s("circle", { cx: 7, cy: 7, r: 6, fill: palette.get(name), stroke: "#1b1b1f", "stroke-width": 1.5 })
              : s("rect", { x: 1, y: 1, width: 12, height: 12, rx: 2, fill: palette.get(name) })),
          " ", name, isAccessible(name) ? h("span", { class: "muted" }, " (accessible, drawn round)") : null),
        h("td", { class: "num" }, count(n))))),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"), h("td", { class: "num" }, count(checked.total)))));
}

// ---------------------------------------------------------------------------------------------
// Examples

export const EXAMPLES = {
  cinema: {
    name: "Cinema: aisle, accessible seats, premium rows",
    layout: {
      sections: [
        {
          name: "Stalls",
          kind: "seated",
          rows: [
            { label: "A", category: "standard", seats: 12, gaps_after: [6], overrides: [{ number: 1, category: "accessible" }, { number: 12, category: "accessible" }] },
            { label: "B", category: "standard", seats: 12, gaps_after: [6] },
            { label: "C", category: "standard", seats: 14, gaps_after: [7] },
            { label: "D", category: "standard", seats: 14, gaps_after: [7] },
            { label: "E", category: "premium", seats: 14, gaps_after: [7] },
            { label: "F", category: "premium", seats: 14, gaps_after: [7] },
          ],
        },
      ],
    },
  },
  concert: {
    name: "Concert hall: standing floor, seated balcony",
    layout: {
      sections: [
        { name: "Floor", kind: "general_admission", capacity: 400, category: "standing" },
        {
          name: "Balcony",
          kind: "seated",
          rows: [
            { label: "1", category: "premium", seats: 20, gaps_after: [10], overrides: [{ number: 1, category: "accessible" }, { number: 2, category: "accessible" }] },
            { label: "2", category: "premium", seats: 20, gaps_after: [10] },
            { label: "3", category: "standard", seats: 22, gaps_after: [11] },
            { label: "4", category: "standard", seats: 22, gaps_after: [11] },
          ],
        },
      ],
    },
  },
};

/** A layout as the textarea shows it: rows on one line each, readable and short. */
export function formatLayout(layout) {
  // Fields at their defaults are left out, so each row stays one short line.
  const compact = (row) => Object.fromEntries(Object.entries(row).filter(([key, v]) =>
    !(key === "first_number" && v === 1) && !((key === "gaps_after" || key === "overrides") && Array.isArray(v) && !v.length)));
  const rowText = (row) => JSON.stringify(compact(row)).replace(/,"/g, ", \"").replace(/":/g, "\": ");
  const lines = ["{", '  "sections": ['];
  layout.sections.forEach((section, k) => {
    const end = k < layout.sections.length - 1 ? "," : "";
    if (section.kind === "seated" && Array.isArray(section.rows)) {
      const { rows, ...rest } = section;
      lines.push(`    {${Object.entries(rest).map(([key, v]) => `"${key}": ${JSON.stringify(v)}`).join(", ")}, "rows": [`);
      rows.forEach((row, r) => lines.push(`      ${rowText(row)}${r < rows.length - 1 ? "," : ""}`));
      lines.push(`    ]}${end}`);
    } else {
      lines.push(`    ${rowText(section)}${end}`);
    }
  });
  lines.push("  ]", "}");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The editor

/**
 * A layout editor: the textarea, the "start from an example" control, and the live preview
 * with its status and legend. Returns { element, textarea, read() } where `read()` returns the
 * checked layout or throws a LayoutError (and focuses the editor at the error).
 */
export function layoutEditor({ initial = "", label = "Layout (JSON)" } = {}) {
  const id = uid("layout");
  const statusId = `${id}-status`;
  const hintId = `${id}-hint`;
  const textarea = h("textarea", {
    id, name: "layout", rows: 18, spellcheck: "false", autocapitalize: "off", autocomplete: "off",
    class: "layout-json", "aria-describedby": `${hintId} ${statusId}`,
  });
  textarea.value = initial;
  const status = h("div", { id: statusId, class: "layout-status" });
  // What screen readers hear: the state once typing pauses, not every keystroke.
  const live = h("p", { class: "visually-hidden", "aria-live": "polite" });
  let liveTimer = 0;
  const tell = (text) => {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(() => {
      if (live.textContent !== text) live.textContent = text;
    }, 1200);
  };
  const picture = h("div", { class: "layout-picture" });
  const table = h("div", { class: "layout-legend" });
  const exampleSelect = h("select", { id: `${id}-example`, "aria-label": "Example layout" },
    Object.entries(EXAMPLES).map(([key, ex]) => h("option", { value: key }, ex.name)));
  let undoText = null;
  const undo = h("button", { type: "button", class: "secondary small", hidden: true, onclick: () => {
    if (undoText === null) return;
    textarea.value = undoText;
    undoText = null;
    undo.hidden = true;
    update(true);
    textarea.focus();
  } }, "Undo example");

  let last = { checked: null, error: null };
  let timer = 0;
  let shownError = "";

  function update(now = false) {
    clearTimeout(timer);
    if (now) render();
    else timer = setTimeout(render, 120);
  }

  function render() {
    const text = textarea.value;
    if (!text.trim()) {
      last = { checked: null, error: null };
      textarea.removeAttribute("aria-invalid");
      replace(status, h("p", { class: "hint" }, "Type or paste the layout, or start from an example. The preview follows as you type."));
      replace(picture, h("div", { class: "layout-empty" }, "No layout yet"));
      replace(table);
      shownError = "";
      return;
    }
    try {
      const checked = checkLayout(parseJson(text));
      last = { checked, error: null };
      textarea.removeAttribute("aria-invalid");
      shownError = "";
      replace(status,
        h("p", { class: "layout-ok" }, h("span", { "aria-hidden": "true" }, "✓ "), `Valid layout: ${describeLayout(checked)}`),
        checked.warnings.map((w) => {
          const { line, column } = lineColumn(text, w.offset);
          return h("p", { class: "layout-warn" }, `Line ${line}, column ${column}: ${w.message}`);
        }));
      replace(picture, drawLayout(checked));
      replace(table, legend(checked));
      tell(`Valid layout: ${describeLayout(checked)}`);
    } catch (error) {
      if (!(error instanceof LayoutError)) throw error;
      last = { checked: last.checked, error };
      textarea.setAttribute("aria-invalid", "true");
      const { line, column } = lineColumn(text, error.offset);
      const message = `Line ${line}, column ${column}: ${error.message}`;
      tell(`Layout error. ${message}`);
      if (message !== shownError) {
        shownError = message;
        replace(status, h("div", { class: "notice error layout-error" },
          h("strong", {}, "The layout has an error. "), message, " ",
          h("button", { type: "button", class: "link", onclick: () => focusAt(error.offset) }, "Show in the editor")));
      }
      // The last good drawing stays, dimmed, so the picture does not flicker while typing.
      if (last.checked) {
        picture.classList.add("stale");
        table.classList.add("stale");
      } else {
        replace(picture, h("div", { class: "layout-empty" }, "The preview appears once the JSON is valid"));
      }
      return;
    }
    picture.classList.remove("stale");
    table.classList.remove("stale");
  }

  function focusAt(offset) {
    textarea.focus();
    textarea.setSelectionRange(offset, Math.min(textarea.value.length, offset + 1));
    // Scroll the error's line into view.
    const { line } = lineColumn(textarea.value, offset);
    const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  textarea.addEventListener("input", () => update());

  const fill = h("button", { type: "button", class: "secondary small", onclick: () => {
    const example = EXAMPLES[exampleSelect.value];
    const previous = textarea.value;
    textarea.value = formatLayout(example.layout);
    if (previous.trim() && previous !== textarea.value) {
      undoText = previous;
      undo.hidden = false;
    }
    update(true);
    textarea.focus();
    textarea.setSelectionRange(0, 0);
    textarea.scrollTop = 0;
  } }, "Start from an example");

  const element = h("div", { class: "layout-editor" },
    h("div", { class: "layout-input" },
      h("label", { for: id }, label),
      h("p", { class: "hint", id: hintId },
        "Sections are ", h("code", {}, "seated"), " (rows of numbered seats; ", h("code", {}, "gaps_after"),
        " draws an aisle, ", h("code", {}, "overrides"), " change single seats, e.g. accessible places) or ",
        h("code", {}, "general_admission"), " (a capacity and one category)."),
      h("div", { class: "example-bar" }, exampleSelect, fill, undo),
      textarea),
    h("div", { class: "layout-preview" },
      h("h4", {}, "Preview"),
      status,
      live,
      picture,
      table));
  update(true);

  return {
    element,
    textarea,
    /** The checked layout, or throws (showing the error at its place). */
    read() {
      clearTimeout(timer);
      render();
      if (last.error) {
        focusAt(last.error.offset);
        const { line, column } = lineColumn(textarea.value, last.error.offset);
        throw new Error(`The layout has an error at line ${line}, column ${column}: ${last.error.message}`);
      }
      if (!last.checked) {
        textarea.focus();
        throw new Error("Enter the hall's layout (or start from an example)");
      }
      return last.checked;
    },
    set(text) {
      textarea.value = text;
      undoText = null;
      undo.hidden = true;
      update(true);
    },
  };
}
