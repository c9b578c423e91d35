// The sign-in token: when the server's reads need one (HPO_READ_TOKEN, or the admin token), the
// page asks for it once and keeps it in this tab's sessionStorage (gone when the tab closes,
// never in a cookie or a URL). api.js sends it with every fetch; header.js asks for it.

const TOKEN_KEY = "hpo.token";

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (_) {
    return null;  // storage disabled: reads only work where they are open
  }
}

export function keepToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* storage disabled: nothing was kept */ }
}
