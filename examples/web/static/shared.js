// Helpers every part of the page uses: the JSON API client, backoff and scrolling lists.

export const $ = (selector) => document.querySelector(selector);

// Retries after a failure wait about 0.5 s, 1 s, 2 s ... up to 10 s; the jitter keeps many
// pages from hitting a restarted server in the same instant.
export function backoff(attempt) {
  const base = Math.min(10_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export function seconds(ms) {
  return Math.max(1, Math.round(ms / 1000));
}

// Keeps the newest line of a scrolling list in view, unless the reader scrolled up.
export function appendLine(list, item, limit) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  // PERF: a page left open for days keeps only the latest lines.
  while (list.children.length > limit) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export class ApiError extends Error {
  // `clause` completes "Could not <do something>: ..."; status 0 means no answer at all.
  constructor(clause, status) {
    super(clause);
    this.status = status;
  }
  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

export async function api(method, path, body) {
  const options = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("the server cannot be reached (is it running? are you online?)", 0);
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    // {"error": ...} (404, 503), or RFC 9457 problem details (invalid input to typed routes).
    const said = data && (typeof data.error === "string" ? data.error : data.detail);
    const reason = typeof said === "string" ? said : null;
    const status = response.status;
    let clause = reason || `the server answered HTTP ${status}`;
    if (status === 503) clause = "the server is busy or restarting (HTTP 503)";
    else if (status >= 500) clause = `the server failed (HTTP ${status})`;
    throw new ApiError(clause, status);
  }
  return data;
}
