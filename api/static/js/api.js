// The JSON API as the pages use it: every /api/v1 URL is built here (`paths`), and every read
// goes through getJson/download with the sign-in token.
//
// A 401/403 (no token, a wrong one, one that may not read) becomes an ApiError and a
// SIGN_IN_NEEDED event on `document` carrying the server's message; header.js answers it with
// the sign-in form. An event rather than a call, so this module needs nothing from the header.

import { storedToken } from "./session.js";

const BASE = "/api/v1";

// `?a=1&b=2` from the entries that are set ("" and null leave a parameter out).
function query(params) {
  const pairs = Object.entries(params || {})
    .filter(([, value]) => value !== null && value !== undefined && value !== "");
  return pairs.length ? `?${new URLSearchParams(pairs.map(([k, v]) => [k, String(v)]))}` : "";
}

export const paths = {
  studies: (params) => `${BASE}/studies${query(params)}`,
  study: (id) => `${BASE}/studies/${id}`,
  leaderboard: (id, k) => `${BASE}/studies/${id}/leaderboard${query({ k })}`,
  trials: (id, params) => `${BASE}/studies/${id}/trials${query(params)}`,
  plots: (id) => `${BASE}/studies/${id}/plots`,
  curves: (id) => `${BASE}/studies/${id}/curves`,
  importance: (id) => `${BASE}/studies/${id}/importance`,
  trialLog: (id, params) => `${BASE}/trials/${id}/logs${query(params)}`,
  pareto: (id) => `${BASE}/studies/${id}/pareto`,
  hypervolume: (id) => `${BASE}/studies/${id}/hypervolume`,
  bestConfigYaml: (id) => `${BASE}/studies/${id}/best${query({ format: "yaml" })}`,
  comparisons: (params) => `${BASE}/comparisons${query(params)}`,
  comparison: (id) => `${BASE}/comparisons/${id}`,
};

export const SIGN_IN_NEEDED = "hpo:sign-in-needed";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function authHeaders(token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

async function failure(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    detail = (await response.json()).detail || detail;
  } catch (_) { /* not JSON: keep the status line */ }
  return new ApiError(response.status, detail);
}

// GET from our API with the stored token; a 4xx/5xx becomes an ApiError carrying its detail.
async function fetchApi(path) {
  const response = await fetch(path, { headers: authHeaders(storedToken()) });
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401 || response.status === 403) {
      document.dispatchEvent(new CustomEvent(SIGN_IN_NEEDED, { detail: { message: error.message } }));
    }
    throw error;
  }
  return response;
}

export async function getJson(path) {
  return (await fetchApi(path)).json();
}

export async function getText(path) {
  return (await fetchApi(path)).text();
}

// Saves what `path` answers as a file (the best config): a plain link would not carry the
// token.
export async function download(path, filename) {
  const blob = await (await fetchApi(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.className = "hidden";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Whether `token` may read, checked with a small read before it is kept: null when it may,
// else the server's message.
export async function tokenRefusal(token) {
  const response = await fetch(paths.studies({ limit: 1 }), { headers: authHeaders(token) });
  return response.ok ? null : (await failure(response)).message;
}
