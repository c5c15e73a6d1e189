// Box office: events (movies and concerts): list, create, edit, publish and unpublish.

import { api, h, replace, newKey } from "/assets/app.js";
import { field, checkbox, onSubmit, runAction, okNode, FieldError, uid } from "/assets/admin-util.js";

const GENRE = /^[a-z0-9_-]{1,32}$/;

export async function renderEvents(body, ctx) {
  const events = await ctx.store.events();
  if (!ctx.current()) return;

  const listStatus = h("div", { class: "form-status" });
  const list = h("div", { class: "event-list" });
  const filter = field({ label: "Find an event", name: "filter", type: "search", attrs: { placeholder: "Title, artist or genre", autocomplete: "off" } });
  const editArea = h("div", { class: "edit-area" });
  let all = events;

  function drawList() {
    const words = filter.input.value.trim().toLowerCase();
    const shown = all.filter((event) => !words ||
      [event.title, event.artist, ...(event.genres || [])].filter(Boolean).join(" ").toLowerCase().includes(words));
    if (!all.length) {
      replace(list, h("p", { class: "notice info" }, "No events yet. Create the first one below."));
      return;
    }
    replace(list,
      h("p", { class: "hint", "aria-live": "polite" }, `${shown.length} of ${all.length} events`),
      h("ul", { class: "admin-list" }, shown.map((event) => eventItem(event))));
  }

  function eventItem(event) {
    const badge = event.published
      ? h("span", { class: "badge ok" }, "Published")
      : h("span", { class: "badge warn" }, "Draft");
    const meta = event.kind === "concert"
      ? [event.artist, ...(event.genres || [])].filter(Boolean).join(" · ")
      : [event.runtime_minutes ? `${event.runtime_minutes} min` : null, event.rating, ...(event.genres || [])].filter(Boolean).join(" · ");
    const publish = h("button", { type: "button", class: "secondary small" }, event.published ? "Unpublish" : "Publish");
    publish.addEventListener("click", () => runAction(publish, listStatus, async () => {
      const action = event.published ? "unpublish" : "publish";
      const updated = await api(`/api/v1/admin/events/${encodeURIComponent(event.id)}/${action}`, { method: "POST" });
      Object.assign(event, updated);
      ctx.store.invalidate("events");
      drawList();
      list.querySelector(`[data-event="${CSS.escape(event.id)}"] button.publish-toggle`)?.focus();
      return updated.published
        ? `“${event.title}” is published: it is listed on What's on with its showtimes that are on sale.`
        : `“${event.title}” is unpublished: it is hidden from the public catalog (sold tickets stay valid).`;
    }, event.published ? "Unpublishing…" : "Publishing…"));
    publish.classList.add("publish-toggle");
    const edit = h("button", { type: "button", class: "secondary small", onclick: () => openEdit(event) }, "Edit");
    return h("li", { class: "admin-item", "data-event": event.id },
      h("div", { class: "item-main" },
        h("strong", {}, event.title), " ", badge, " ", h("span", { class: "badge" }, event.kind === "concert" ? "Concert" : "Movie"),
        meta ? h("div", { class: "muted small-text" }, meta) : null),
      h("div", { class: "item-actions" },
        h("a", { class: "button secondary small", href: `#showtimes/${encodeURIComponent(event.id)}` }, "Showtimes",
          h("span", { class: "visually-hidden" }, ` of ${event.title}`)),
        edit, publish,
        event.published ? h("a", { href: `/events/${encodeURIComponent(event.id)}`, class: "small-link" }, "Public page", h("span", { class: "visually-hidden" }, ` of ${event.title}`)) : null));
  }

  function openEdit(event) {
    const form = eventForm({
      event,
      heading: `Edit “${event.title}”`,
      submitText: "Save changes",
      onSaved: (updated) => {
        Object.assign(event, updated);
        ctx.store.invalidate("events");
        drawList();
        return `“${updated.title}” saved.`;
      },
      onCancel: () => {
        replace(editArea);
        create.hidden = false;
        list.querySelector(`[data-event="${CSS.escape(event.id)}"] button`)?.focus();
      },
    });
    replace(editArea, form);
    create.hidden = true;
    form.querySelector("h3").focus();
  }

  filter.input.addEventListener("input", drawList);
  drawList();
  const create = eventForm({
    heading: "New event",
    submitText: "Create event",
    onSaved: (created) => {
      all = [created, ...all];
      ctx.store.invalidate("events");
      drawList();
      return okNode(`“${created.title}” created${created.published ? " and published" : " as a draft"}. `,
        h("a", { href: `#showtimes/${encodeURIComponent(created.id)}` }, "Add its showtimes"),
        created.published ? "." : ", then publish it when it is ready.");
    },
  });
  replace(body,
    h("p", { class: "hint" }, "Movies and concerts. Drafts are hidden from the public; publish an event to list it on What's on."),
    h("div", { class: "form-narrow" }, filter.wrap),
    listStatus,
    list,
    editArea,
    create);
}

/** The create or edit form of an event. */
function eventForm({ event, heading, submitText, onSaved, onCancel }) {
  const editing = !!event;
  const values = event || { kind: "movie", genres: [] };
  const kindName = uid("kind");
  const kindInputs = ["movie", "concert"].map((kind) => {
    const id = uid("kind");
    const input = h("input", { type: "radio", name: kindName, id, value: kind, checked: values.kind === kind || undefined, disabled: editing || undefined });
    return { kind, input, wrap: h("div", { class: "check-line" }, input, h("label", { for: id }, kind === "movie" ? "Movie" : "Concert")) };
  });
  const kindSet = h("fieldset", { class: "kind" }, h("legend", {}, "Kind"), h("div", { class: "radio-row" }, kindInputs.map((k) => k.wrap)),
    editing ? h("p", { class: "hint" }, "The kind of an event cannot be changed.") : null);
  const title = field({ label: "Title", name: "title", required: true, value: values.title, attrs: { maxlength: 200, autocomplete: "off" } });
  const synopsis = field({ label: "Synopsis", name: "synopsis", type: "textarea", value: values.synopsis, attrs: { maxlength: 5000, rows: 3 } });
  const genres = field({
    label: "Genres", name: "genres", value: (values.genres || []).join(", "),
    hint: "Comma-separated lower-case words, e.g. drama, thriller (at most 10).", attrs: { autocomplete: "off", autocapitalize: "off" },
  });
  const runtime = field({ label: "Running time (minutes)", name: "runtime", type: "number", value: values.runtime_minutes ?? "", hint: "e.g. 97", attrs: { min: 1, max: 1000, step: 1, inputmode: "numeric" } });
  const rating = field({ label: "Age rating", name: "rating", value: values.rating ?? "", hint: "e.g. PG-13 or FSK 12", attrs: { maxlength: 16, autocomplete: "off" } });
  const artist = field({ label: "Artist", name: "artist", required: true, value: values.artist ?? "", attrs: { maxlength: 200, autocomplete: "off" } });
  const posterUrl = field({
    label: "Poster URL (optional)", name: "poster_url", type: "url", value: values.poster_url ?? "",
    hint: "An https:// address or a path on this site. Without one, a poster is drawn from the title.", attrs: { maxlength: 2000, autocomplete: "off" },
  });
  const publish = editing ? null : checkbox({ label: "Publish now", name: "published", hint: "Leave unticked to create a draft and publish it later." });
  const movieFields = h("div", { class: "row" }, runtime.wrap, rating.wrap);
  const concertFields = h("div", {}, artist.wrap);
  const kindOf = () => kindInputs.find((k) => k.input.checked)?.kind || "movie";
  const syncKind = () => {
    const kind = kindOf();
    movieFields.hidden = kind !== "movie";
    concertFields.hidden = kind !== "concert";
  };
  for (const k of kindInputs) k.input.addEventListener("change", syncKind);
  syncKind();

  const status = h("div", { class: "form-status" });
  const headingEl = h("h3", { tabindex: "-1" }, heading);
  const form = h("form", { class: "panel admin-form form-wide" },
    headingEl, kindSet, title.wrap, synopsis.wrap, genres.wrap, movieFields, concertFields, posterUrl.wrap,
    publish ? publish.wrap : null,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, submitText),
      onCancel ? h("button", { type: "button", class: "secondary", onclick: onCancel }, "Close") : null),
    status);

  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  onSubmit(form, status, async () => {
    const kind = kindOf();
    const titleText = title.input.value.trim();
    if (!titleText) throw new FieldError("Enter a title", title);
    const genreList = genres.input.value.split(",").map((g) => g.trim().toLowerCase()).filter(Boolean);
    const badGenre = genreList.find((g) => !GENRE.test(g));
    if (badGenre) throw new FieldError(`“${badGenre}” is not a genre: use lower-case letters, digits, “_” or “-” (no spaces)`, genres);
    if (genreList.length > 10) throw new FieldError("At most 10 genres", genres);
    let minutes = null;
    if (kind === "movie" && runtime.input.value.trim()) {
      minutes = Number(runtime.input.value);
      if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1000) throw new FieldError("The running time must be a whole number of minutes from 1 to 1000", runtime);
    }
    const artistText = artist.input.value.trim();
    if (kind === "concert" && !artistText) throw new FieldError("A concert needs an artist", artist);
    const poster = posterUrl.input.value.trim();
    if (poster && !/^(https?:\/\/|\/)/.test(poster)) throw new FieldError("The poster URL must start with https://, http:// or /", posterUrl);
    const ratingText = rating.input.value.trim();

    if (!editing) {
      const created = await api("/api/v1/admin/events", {
        method: "POST",
        idempotencyKey: key,
        body: {
          kind,
          title: titleText,
          synopsis: synopsis.input.value.trim(),
          genres: genreList,
          published: publish.input.checked,
          ...(kind === "movie" ? { runtime_minutes: minutes, rating: ratingText || null } : { artist: artistText }),
          poster_url: poster || null,
        },
      });
      key = newKey();
      for (const f of [title, synopsis, genres, runtime, rating, artist, posterUrl]) f.input.value = "";
      publish.input.checked = false;
      return onSaved(created);
    }

    // Edit: send what changed. The API keeps absent fields, and cannot clear optional ones.
    const patch = {};
    if (titleText !== event.title) patch.title = titleText;
    if (synopsis.input.value.trim() !== (event.synopsis || "")) patch.synopsis = synopsis.input.value.trim();
    if (genreList.join(",") !== (event.genres || []).join(",")) patch.genres = genreList;
    const cannotClear = (f, was, now, what) => {
      if (was && !now) throw new FieldError(`The ${what} cannot be removed, only changed: enter a new one`, f);
    };
    if (kind === "movie") {
      cannotClear(runtime, event.runtime_minutes, minutes, "running time");
      cannotClear(rating, event.rating, ratingText, "age rating");
      if (minutes !== null && minutes !== event.runtime_minutes) patch.runtime_minutes = minutes;
      if (ratingText && ratingText !== event.rating) patch.rating = ratingText;
    } else if (artistText !== event.artist) {
      patch.artist = artistText;
    }
    cannotClear(posterUrl, event.poster_url, poster, "poster URL");
    if (poster && poster !== event.poster_url) patch.poster_url = poster;
    if (!Object.keys(patch).length) return "Nothing changed.";
    const updated = await api(`/api/v1/admin/events/${encodeURIComponent(event.id)}`, { method: "PATCH", body: patch });
    return onSaved(updated);
  }, { busyText: editing ? "Saving…" : "Creating…" });
  return form;
}


