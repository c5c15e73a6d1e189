// Log in and create an account (the /login and /register pages share this module).
//
// Both forms post {email, password} to the browser-session endpoints, which set the HttpOnly
// session cookie and the CSRF cookie. After success the visitor goes back to `?next=` (only a
// path of this site) or to the front page.

import { api, ApiError, currentUser, h, replace, announce, errorBox } from "/assets/app.js";

const MIN_PASSWORD_CHARS = 10; // the API's rule (marquee_domain::account::MIN_PASSWORD_CHARS)
const MAX_PASSWORD_BYTES = 1024;

const isRegister = document.body.dataset.page === "register";
const form = document.getElementById("account-form");
const email = document.getElementById("email");
const password = document.getElementById("password");
const submit = document.getElementById("submit");
const formError = document.getElementById("form-error");
const signedIn = document.getElementById("signed-in");
const reveal = form.querySelector(".reveal");
const submitText = submit.textContent;

/** `?next=` when it is a path of this site ("/…" but not "//…" or "/\…"), else "/". */
function nextTarget() {
  const raw = new URLSearchParams(location.search).get("next");
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return "/";
  try {
    const url = new URL(raw, location.origin);
    if (url.origin !== location.origin) return "/";
    // Never bounce back to the account pages themselves.
    if (url.pathname === "/login" || url.pathname === "/register") return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

/** A link to the other account page that keeps `?next=`. */
function withNext(path) {
  const next = nextTarget();
  return next === "/" ? path : `${path}?next=${encodeURIComponent(next)}`;
}

function keepNextOnSwitchLink() {
  const link = document.getElementById("switch-link");
  if (link) link.href = withNext(link.getAttribute("href"));
}

function fieldError(input, message) {
  const box = document.getElementById(`${input.id}-error`);
  if (message) {
    input.setAttribute("aria-invalid", "true");
    box.textContent = message;
    box.hidden = false;
  } else {
    input.removeAttribute("aria-invalid");
    box.textContent = "";
    box.hidden = true;
  }
}

function clearErrors() {
  fieldError(email, "");
  fieldError(password, "");
  replace(formError);
}

/** Checks what the API would refuse anyway, so the visitor hears it at once. */
function validate() {
  let first = null;
  const address = email.value.trim();
  if (!address) {
    fieldError(email, "Enter your email address.");
    first ??= email;
  } else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address)) {
    fieldError(email, "Enter an email address like name@example.com.");
    first ??= email;
  }
  const chars = [...password.value].length;
  if (!password.value) {
    fieldError(password, isRegister ? "Choose a password." : "Enter your password.");
    first ??= password;
  } else if (isRegister && chars < MIN_PASSWORD_CHARS) {
    fieldError(password, `Your password needs at least ${MIN_PASSWORD_CHARS} characters (it has ${chars}).`);
    first ??= password;
  } else if (isRegister && new TextEncoder().encode(password.value).length > MAX_PASSWORD_BYTES) {
    fieldError(password, "Your password is too long.");
    first ??= password;
  }
  return first;
}

function busy(on, text) {
  submit.disabled = on;
  submit.textContent = on ? text || submit.dataset.busyText : submitText;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function waitText(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** Keeps the button disabled until the server accepts attempts again. */
function throttle(seconds) {
  busy(true, "Please wait…");
  const until = new Date(Date.now() + seconds * 1000);
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(until);
  replace(formError, h("div", { class: "notice error", role: "alert" },
    h("strong", {}, "Too many attempts. "),
    `For your security, please wait ${waitText(seconds)} (until ${clock}) before trying again.`));
  setTimeout(() => {
    busy(false);
    replace(formError, h("div", { class: "notice info", role: "status" }, "You can try again now."));
  }, seconds * 1000);
}

function showFailure(error) {
  if (!(error instanceof ApiError)) {
    replace(formError, errorBox(error));
    return;
  }
  switch (error.code) {
    case "invalid_credentials":
      replace(formError, h("div", { class: "notice error", role: "alert" },
        h("strong", {}, "Wrong email or password. "),
        "Check both and try again. ",
        h("a", { href: withNext("/register") }, "No account yet? Create one.")));
      password.value = "";
      password.focus();
      return;
    case "email_taken": {
      fieldError(email, "An account with this email already exists.");
      const login = withNext("/login");
      replace(formError, h("div", { class: "notice error", role: "alert" },
        h("strong", {}, "This email is already registered. "),
        h("a", { href: login }, "Log in instead"), "."));
      email.focus();
      return;
    }
    case "too_many_requests": {
      const seconds = Number(error.problem.retry_after) || 60;
      throttle(seconds);
      return;
    }
    case "invalid_request": {
      // The API says which rule was broken ("password must have at least 10 characters", …).
      const text = error.message;
      const field = /password/i.test(text) ? password : /email/i.test(text) ? email : null;
      if (field) {
        fieldError(field, text.charAt(0).toUpperCase() + text.slice(1) + ".");
        field.focus();
      }
      replace(formError, errorBox(error));
      return;
    }
    default:
      replace(formError, errorBox(error));
  }
}

async function onSubmit(event) {
  event.preventDefault();
  if (submit.disabled) return;
  clearErrors();
  const invalid = validate();
  if (invalid) {
    replace(formError, h("div", { class: "notice error", role: "alert" }, "Please correct the highlighted field."));
    invalid.focus();
    return;
  }
  busy(true);
  // Hidden again before the browser's password manager looks at the form.
  if (password.type !== "password") setRevealed(false);
  try {
    const path = isRegister ? "/api/v1/auth/web/register" : "/api/v1/auth/web/login";
    const session = await api(path, { method: "POST", body: { email: email.value.trim(), password: password.value } });
    announce(isRegister ? `Account created. Signed in as ${session.user.email}.` : `Signed in as ${session.user.email}.`);
    location.assign(nextTarget());
  } catch (error) {
    busy(false);
    showFailure(error);
  }
}

/** The rule under the new password: met or not, with how many characters are left. */
function updateRule() {
  const rule = document.getElementById("password-rules");
  const count = document.getElementById("password-count");
  if (!rule || !count) return;
  const chars = [...password.value].length;
  const met = chars >= MIN_PASSWORD_CHARS;
  rule.classList.toggle("met", met);
  count.textContent = !chars ? "" : met ? "long enough" : `${MIN_PASSWORD_CHARS - chars} more`;
  if (met && password.getAttribute("aria-invalid")) fieldError(password, "");
}

function setRevealed(show) {
  password.type = show ? "text" : "password";
  replace(reveal, show ? "Hide" : "Show", h("span", { class: "visually-hidden" }, " password"));
}

function setUpReveal() {
  reveal.addEventListener("click", () => {
    const show = password.type === "password";
    setRevealed(show);
    announce(show ? "Your password is shown." : "Your password is hidden.");
  });
}

/** A visitor who is signed in already sees who they are, and where to go on. */
function showSignedIn(user) {
  const next = nextTarget();
  form.hidden = true;
  document.getElementById("account-title").textContent = "You are signed in";
  document.querySelector(".account-lead")?.setAttribute("hidden", "");
  document.querySelector(".switch")?.setAttribute("hidden", "");
  const logOut = h("button", { type: "button", class: "secondary" }, "Log out to use another account");
  logOut.addEventListener("click", async () => {
    logOut.disabled = true;
    try {
      await api("/api/v1/auth/web/logout", { method: "POST" });
      location.reload();
    } catch (error) {
      logOut.disabled = false;
      signedIn.append(errorBox(error));
    }
  });
  replace(signedIn,
    h("p", { class: "signed-in-who" }, "You are signed in as ", h("strong", {}, user.email), "."),
    h("div", { class: "actions" },
      h("a", { class: "button", href: next }, next === "/" ? "Go to what's on" : "Continue"),
      h("a", { class: "button secondary", href: "/tickets" }, "My tickets"),
      logOut));
  signedIn.hidden = false;
  signedIn.querySelector("a")?.focus();
}

/** Coming from the seat map or checkout: say why an account is needed and that nothing is lost. */
function explainWhy() {
  const lead = document.querySelector(".account-lead");
  const next = nextTarget();
  if (!lead || !(next.startsWith("/showtimes/") || next.startsWith("/checkout/"))) return;
  lead.textContent = isRegister
    ? "Create an account to hold your seats and pay. Your selection is kept: you go straight back to it."
    : "Log in to hold your seats and pay. Your selection is kept: you go straight back to it. New here? Create an account below.";
}

async function init() {
  explainWhy();
  keepNextOnSwitchLink();
  setUpReveal();
  form.addEventListener("submit", onSubmit);
  for (const input of [email, password]) {
    input.addEventListener("input", () => {
      // A new password on the register page is cleared by its rule once it is long enough.
      if (input.getAttribute("aria-invalid") && !(isRegister && input === password)) fieldError(input, "");
    });
  }
  if (isRegister) {
    password.addEventListener("input", updateRule);
    updateRule();
  }
  let user = null;
  try {
    user = await currentUser();
  } catch {
    // Could not tell: leave the form usable.
  }
  if (user) showSignedIn(user);
  else if (!email.value) email.focus();
}

init();
