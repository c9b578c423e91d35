// DOM building and the page's error box.

// el("td", {class: "num"}, "1.5") -> <td class="num">1.5</td>; children may be nodes or text.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// The class on <body> while header.js shows the sign-in form (the form hides the page).
export const SIGN_IN_CLASS = "login-needed";

export function signInShown() {
  return document.body.classList.contains(SIGN_IN_CLASS);
}

export function showError(message) {
  const box = document.getElementById("error");
  if (!box) return;
  if (message && signInShown()) return;  // the sign-in form says what is wrong
  box.textContent = message;
  box.classList.toggle("hidden", !message);
}

export function setNote(id, text) {
  document.getElementById(id).textContent = text || "";
}
