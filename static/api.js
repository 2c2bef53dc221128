// The JSON API client: every request the inbox makes goes through here.

/** Where the API is: beside the inbox's static/ folder, so a base path (/mail/api) holds. */
export const API = new URL("../api", import.meta.url).pathname;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "catcher is not reachable");
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, payload?.error ?? `${response.status} ${response.statusText}`);
  }
  return payload;
}

/** A mailbox name as the server allows it: 1-64 of A-Z a-z 0-9 . _ -, not only dots */
export const MAILBOX_NAME = /^(?=.{1,64}$)[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Filters as query parameters: only the ones that are set, and the mailbox if any. */
export function filterParams(filters = {}, mailbox = null) {
  const params = new URLSearchParams();
  for (const key of ["q", "from", "to", "subject"]) {
    if (filters[key]) params.set(key, filters[key]);
  }
  if (mailbox !== null) params.set("mailbox", mailbox);
  return params;
}

/** "?mailbox=NAME" for a mailbox, "" for All mail. */
function scoped(mailbox) {
  return mailbox === null ? "" : `?${new URLSearchParams({ mailbox })}`;
}

export function listMessages(filters, { limit = 50, offset = 0, mailbox = null } = {}) {
  const params = filterParams(filters, mailbox);
  params.set("limit", limit);
  params.set("offset", offset);
  return request("GET", `${API}/messages?${params}`);
}

export const getMessage = (id, mailbox = null) =>
  request("GET", `${API}/messages/${encodeURIComponent(id)}${scoped(mailbox)}`);
export const setRead = (id, read) => request("PATCH", `${API}/messages/${encodeURIComponent(id)}`, { read });
/** Delete one message; from one mailbox only (it lives on in any other) given one. */
export const deleteMessage = (id, mailbox = null) =>
  request("DELETE", `${API}/messages/${encodeURIComponent(id)}${scoped(mailbox)}`);
/** Will it work: client support, lint findings and links; platform ("desktop", "mobile", "web") narrows the support. */
export function checkMessage(id, platform = "") {
  const query = platform ? `?${new URLSearchParams({ platform })}` : "";
  return request("GET", `${API}/messages/${encodeURIComponent(id)}/check${query}`);
}
export const mailboxes = () => request("GET", `${API}/mailboxes`);

/** The mbox download of everything, or of what the filters match (in one mailbox given one). */
export function exportUrl(filters, mailbox = null) {
  const params = filterParams(filters, mailbox);
  return `${API}/messages/export${params.size ? `?${params}` : ""}`;
}

/** Delete everything, or only what the filters match; in one mailbox given one. */
export function deleteMatching(filters, mailbox = null) {
  const params = filterParams(filters, mailbox);
  return request("DELETE", `${API}/messages${params.size ? `?${params}` : ""}`);
}

/** Mark every message the filters match (in one mailbox given one) read: {matched, changed}. */
export function markAllRead(filters, mailbox = null) {
  const params = filterParams(filters, mailbox);
  return request("PATCH", `${API}/messages${params.size ? `?${params}` : ""}`, { read: true });
}

/** The HTML preview's URL: remote content blocked or not, in a colour scheme (light, dark, invert). */
export function htmlUrl(id, blockRemote, scheme = null) {
  const params = new URLSearchParams();
  if (blockRemote) params.set("block_remote", "1");
  if (scheme) params.set("scheme", scheme);
  const query = params.toString();
  return `${API}/messages/${encodeURIComponent(id)}/html${query ? `?${query}` : ""}`;
}

/** The start of a text resource (the raw source can be 50 MB): {text, truncated, size}. */
export async function fetchText(url, maxBytes) {
  const response = await fetch(url);
  if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (received >= maxBytes) {
      truncated = true;
      await reader.cancel();
      break;
    }
  }
  const bytes = new Uint8Array(Math.min(received, maxBytes));
  let at = 0;
  for (const chunk of chunks) {
    const take = chunk.subarray(0, bytes.length - at);
    bytes.set(take, at);
    at += take.length;
    if (at >= bytes.length) break;
  }
  return { text: new TextDecoder("utf-8").decode(bytes), truncated, size: received };
}

/** Search box text to filters: the server reads the whole search syntax from q. */
export function parseSearch(text) {
  const q = text.trim();
  return q ? { q } : {};
}

export function hasFilters(filters) {
  return Object.values(filters).some(Boolean);
}

/** The fault rules in force, and how often they fired in all. */
export function listFaults() {
  return request("GET", `${API}/faults`);
}

export function clearFaults() {
  return request("DELETE", `${API}/faults`);
}

/** The last SMTP conversations, newest first. */
export function listSessions(limit = 30) {
  return request("GET", `${API}/sessions?limit=${limit}`);
}
