// The askdocs HTTP API as the page uses it: the key kept in localStorage, JSON errors turned
// into ApiError, uploads through XMLHttpRequest (for upload progress) and answers read as
// server-sent events from a POST (EventSource cannot send a body or a header).

const KEY_STORAGE = "askdocs.apiKey";

/** An error the server reported ({"error": {"code", "message"}}) or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** Called with the ApiError whenever the server answers 401: the key is missing or rejected. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

// Where localStorage is disabled, the key lives only as long as the page.
let memoryKey = "";

export function getKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || memoryKey;
  } catch {
    return memoryKey;
  }
}

export function saveKey(key) {
  memoryKey = key.trim();
  try {
    localStorage.setItem(KEY_STORAGE, memoryKey);
  } catch {
    // kept in memoryKey only
  }
}

export function forgetKey() {
  memoryKey = "";
  try {
    localStorage.removeItem(KEY_STORAGE);
  } catch {
    // nothing was stored
  }
}

function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function failure(status, code, message) {
  const error = new ApiError(status, code, message);
  if (status === 401) unauthorized(error);
  return error;
}

function parseError(status, statusText, text) {
  try {
    const body = JSON.parse(text);
    if (body && body.error) return failure(status, body.error.code, body.error.message);
  } catch {
    // not JSON: fall through to the status line
  }
  return failure(status, `http_${status}`, statusText || `HTTP ${status}`);
}

async function errorOf(response) {
  return parseError(response.status, response.statusText, await response.text());
}

function networkError(error) {
  if (error && error.name === "AbortError") return error;
  return new ApiError(0, "network", "could not reach the askdocs server: is it running?");
}

async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (error) {
    throw networkError(error);
  }
}

/** A JSON request to a /v1 route; resolves to the parsed body, rejects with ApiError. */
export async function request(method, path, { json, query, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const encoded = params.toString();
    if (encoded) url += `?${encoded}`;
  }
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await send(url, init);
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

/** GET without a key, for /healthz and /readyz. */
export async function probe(path) {
  const response = await send(path, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { ok: response.ok, status: response.status, body };
}

/** A file's original bytes, fetched with the key (a plain link could not send it). */
export async function fetchBlob(path) {
  const response = await send(path, { headers: authHeaders() });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

/**
 * Sends a multipart form with XMLHttpRequest, whose upload.onprogress fetch() lacks.
 * onProgress(loaded, total) is called as the bytes leave; resolves to the JSON body.
 */
export function sendForm(method, path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "bad_response", "the server's answer was not JSON"));
        }
      } else {
        reject(parseError(xhr.status, xhr.statusText, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(networkError(null)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "upload cancelled")));
    xhr.send(form);
  });
}

function nextBoundary(buffer) {
  const match = /\r?\n\r?\n/.exec(buffer);
  return match ? { index: match.index, length: match[0].length } : null;
}

function parseEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { type, data: JSON.parse(data.join("\n")) } : null;
}

function dispatch(event, onEvent) {
  if (event.type === "error") {
    const body = event.data.error || {};
    throw failure(event.data.status || 500, body.code || "error", body.message || "failed");
  }
  onEvent(event.type, event.data);
}

/**
 * POSTs ``body`` and reads the text/event-stream answer: onEvent("token", {text}) for each
 * piece, then onEvent("answer", payload). An "error" event rejects with ApiError.
 */
export async function streamEvents(path, body, onEvent, signal) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
    onEvent("answer", await response.json());
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let cut = nextBoundary(buffer); cut; cut = nextBoundary(buffer)) {
      const event = parseEvent(buffer.slice(0, cut.index));
      buffer = buffer.slice(cut.index + cut.length);
      if (event) dispatch(event, onEvent);
    }
  }
  const last = parseEvent(buffer.trim());
  if (last) dispatch(last, onEvent);
}
