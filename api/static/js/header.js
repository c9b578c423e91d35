// The header every page shares: the sign-in form when the server wants a token (shown on
// api.js's SIGN_IN_NEEDED event) and a "Sign out" link while a token is kept. Imported by each
// page module for this effect; it exports nothing.

import { SIGN_IN_NEEDED, tokenRefusal } from "./api.js";
import { el, showError, signInShown, SIGN_IN_CLASS } from "./dom.js";
import { forgetToken, keepToken, storedToken } from "./session.js";

function loginForm() {
  let form = document.getElementById("login");
  if (form) return form;
  form = el("form", { id: "login", class: "card login", autocomplete: "off" },
    el("h1", {}, "Sign in"),
    el("p", { class: "sub" }, "This server's data needs a token: the read token ",
      el("code", {}, "HPO_READ_TOKEN"), " or the admin token. It is kept in this browser ",
      "tab only, until you sign out or close the tab."),
    el("div", { id: "login-error", class: "error hidden", role: "alert" }),
    el("label", { for: "login-token" }, "Token"),
    el("input", { id: "login-token", name: "token", type: "password", required: true,
      autocomplete: "current-password", spellcheck: "false" }),
    el("button", { id: "login-submit", type: "submit", class: "button primary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("login-token").value.trim();
    if (!token) return;
    // A wrong token shows the server's message here and is not kept.
    const refusal = await tokenRefusal(token);
    if (refusal !== null) {
      loginMessage(refusal);
      return;
    }
    keepToken(token);
    window.location.reload();
  });
  document.querySelector("main").prepend(form);
  return form;
}

function loginMessage(message) {
  const box = document.getElementById("login-error");
  box.textContent = message || "";
  box.classList.toggle("hidden", !message);
}

function showLogin(message) {
  const first = !signInShown();
  loginForm();
  // A stored token the server refuses (changed, or not a read token) is dropped.
  if (storedToken()) forgetToken();
  showError("");
  document.body.classList.add(SIGN_IN_CLASS);
  loginMessage(message);
  updateLogout();
  if (first) document.getElementById("login-token").focus();
}

// A "Sign out" link in the header while a token is kept.
function updateLogout() {
  const header = document.querySelector("header.top");
  if (!header) return;
  let link = document.getElementById("logout");
  if (!link) {
    link = el("a", { id: "logout", class: "logout", href: "#" }, "Sign out");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      forgetToken();
      window.location.reload();
    });
    header.append(link);
  }
  link.classList.toggle("hidden", !storedToken());
}

document.addEventListener(SIGN_IN_NEEDED, (event) => showLogin(event.detail.message));
// Modules run once the document is parsed: the header is there.
updateLogout();
