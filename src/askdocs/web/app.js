// The page's entry point: the API key, the server's readiness, and the three parts (uploads,
// documents, chat) wired together.

import { forgetKey, getKey, onUnauthorized, probe, request, saveKey } from "./api.js";
import { createChat } from "./chat.js";
import { createDocuments } from "./documents.js";
import { createPassageViewer } from "./passage.js";
import { createUploads } from "./uploads.js";

const READY_POLL_MS = 2000;
const byId = (id) => document.getElementById(id);

function createNotice() {
  const box = byId("notice");
  const text = byId("notice-text");
  byId("notice-close").addEventListener("click", () => {
    box.hidden = true;
  });
  return {
    show(message, kind = "error") {
      text.textContent = message;
      box.dataset.kind = kind;
      box.hidden = false;
    },
    hide() {
      box.hidden = true;
    },
  };
}

/** The key form while no key is kept; "key saved" with a way to forget it once one is. */
function createKeyControls(notice, changed) {
  const form = byId("key-form");
  const input = byId("key-input");
  const saved = byId("key-saved");
  const label = byId("key-label");

  function show() {
    const key = getKey();
    form.hidden = Boolean(key);
    saved.hidden = !key;
    label.textContent = key ? `key …${key.slice(-4)} saved` : "";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    saveKey(key);
    input.value = "";
    show();
    try {
      await request("GET", "/v1/files", { query: { limit: 1 } });
      notice.hide();
      changed();
    } catch (error) {
      if (error.status !== 401) notice.show(`Could not check the key: ${error.message}`);
    }
  });
  byId("key-forget").addEventListener("click", () => {
    forgetKey();
    show();
    input.focus();
  });

  onUnauthorized((error) => {
    const had = Boolean(getKey());
    forgetKey();
    show();
    notice.show(
      had
        ? `Key rejected: ${error.message}`
        : "This server needs an API key: paste one above (askdocs keys create --name NAME).",
    );
  });
  show();
}

/** Polls /readyz until the models are loaded; the badge says what the server is doing. */
async function watchReadiness() {
  const badge = byId("server-status");
  for (;;) {
    let text;
    let state;
    try {
      const { ok, body } = await probe("/readyz");
      state = ok ? "ready" : "loading";
      text = ok ? "server ready" : body?.error?.message || "loading models…";
    } catch {
      state = "down";
      text = "server unreachable";
    }
    badge.textContent = text;
    badge.dataset.state = state;
    if (state === "ready") return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

function main() {
  const notice = createNotice();
  const report = (message) => notice.show(message);
  let documents = null;
  const refresh = () => documents?.refresh();

  createKeyControls(notice, refresh);
  const uploads = createUploads({
    zone: byId("drop-zone"),
    choose: byId("choose-files"),
    input: byId("file-input"),
    collection: byId("upload-collection"),
    list: byId("upload-list"),
    clear: byId("upload-clear"),
    replaceInput: byId("replace-input"),
  }, refresh);
  documents = createDocuments({
    search: byId("doc-search"),
    refresh: byId("doc-refresh"),
    more: byId("doc-more"),
    summary: byId("doc-summary"),
    list: byId("doc-list"),
  }, { replace: (doc) => uploads.replace(doc), report });
  const passages = createPassageViewer({
    dialog: byId("passage-dialog"),
    title: byId("passage-title"),
    meta: byId("passage-meta"),
    note: byId("passage-note"),
    text: byId("passage-text"),
    close: byId("passage-close"),
    download: byId("passage-download"),
  }, report);
  createChat({
    conversation: byId("conversation"),
    form: byId("ask-form"),
    question: byId("question"),
    ask: byId("ask-button"),
    stop: byId("stop-button"),
    status: byId("ask-status"),
    newChat: byId("new-chat"),
    collection: byId("ask-collection"),
    k: byId("ask-k"),
    cache: byId("ask-cache"),
  }, passages.open);

  watchReadiness();
  documents.refresh();
}

main();
