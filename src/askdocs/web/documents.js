// The documents list: search by file name, status, and per-file download, replace and delete.

import { fetchBlob, request } from "./api.js";
import { baseName, el, formatBytes, formatWhen } from "./dom.js";

const PAGE = 100;
const BUSY_REFRESH_MS = 1500;
const SEARCH_DELAY_MS = 250;

/** Saves a file fetched with the key: a blob URL clicked as a download, then released. */
export async function download(documentId, source) {
  const blob = await fetchBlob(`/v1/files/${encodeURIComponent(documentId)}/content`);
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: baseName(source), hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function statusText(doc) {
  if (doc.status === "processing") {
    const job = doc.job || {};
    const { chunks_done: done, chunks_total: total } = job.progress || {};
    if (job.state === "running" && total) return `ingesting ${done}/${total}`;
    return job.state === "running" ? "ingesting" : "queued";
  }
  if (doc.status === "ready" && doc.processing_version) return "ready, updating";
  return doc.status || "unknown";
}

function metaLine(doc) {
  const parts = [doc.collection];
  if (doc.version) parts.push(`v${doc.version}`);
  if (typeof doc.size === "number") parts.push(formatBytes(doc.size));
  if (typeof doc.chunk_count === "number") {
    parts.push(`${doc.chunk_count} ${doc.chunk_count === 1 ? "chunk" : "chunks"}`);
  }
  if (doc.updated_at) parts.push(`updated ${formatWhen(doc.updated_at)}`);
  return parts.filter(Boolean).join(" · ");
}

/**
 * Wires the list. ``actions.replace(doc)`` starts a replace upload; ``actions.report(message)``
 * shows an error the user should see.
 */
export function createDocuments(ui, actions) {
  let limit = PAGE;
  let generation = 0;
  let busyTimer = null;
  let searchTimer = null;

  function row(doc) {
    const name = baseName(doc.source);
    const button = (label, handler, className = "secondary") => {
      const node = el("button", { type: "button", class: className }, label);
      node.setAttribute("aria-label", `${label} ${doc.source}`);
      node.addEventListener("click", handler);
      return node;
    };
    const ready = doc.version !== null && doc.version !== undefined;
    return el(
      "li",
      { class: "doc", dataset: { documentId: doc.document_id, status: doc.status } },
      el("div", { class: "doc-head" },
        el("span", { class: "doc-name", title: doc.source }, name),
        el("span", { class: `badge status-${doc.status}` }, statusText(doc))),
      name !== doc.source ? el("p", { class: "doc-path muted" }, doc.source) : null,
      el("p", { class: "doc-meta muted" }, metaLine(doc)),
      doc.error ? el("p", { class: "doc-error" }, `failed: ${doc.error}`) : null,
      el("div", { class: "doc-actions" },
        ready ? button("Download", () => onDownload(doc)) : null,
        ready ? button("Replace", () => actions.replace(doc)) : null,
        button("Delete", () => onDelete(doc), "danger")),
    );
  }

  async function onDownload(doc) {
    try {
      await download(doc.document_id, doc.source);
    } catch (error) {
      actions.report(`Could not download ${doc.source}: ${error.message}`);
    }
  }

  async function onDelete(doc) {
    const sure = window.confirm(
      `Delete ${doc.source}? Its passages leave the answers at once; this cannot be undone.`,
    );
    if (!sure) return;
    try {
      await request("DELETE", `/v1/files/${encodeURIComponent(doc.document_id)}`);
    } catch (error) {
      actions.report(`Could not delete ${doc.source}: ${error.message}`);
    }
    await refresh();
  }

  function render(body) {
    const files = body.files || [];
    ui.list.replaceChildren(...files.map(row));
    const query = ui.search.value.trim();
    if (!body.total) {
      ui.summary.textContent = query
        ? `No file name contains “${query}”.`
        : "No documents yet.";
    } else {
      const shown = files.length < body.total ? `${files.length} of ${body.total}` : body.total;
      ui.summary.textContent = `${shown} ${body.total === 1 ? "document" : "documents"}`;
    }
    ui.more.hidden = files.length >= body.total;
    clearTimeout(busyTimer);
    if (files.some((doc) => doc.status === "processing" || doc.processing_version)) {
      busyTimer = setTimeout(refresh, BUSY_REFRESH_MS);
    }
  }

  async function refresh() {
    const mine = ++generation;  // a slower, older answer must not overwrite a newer one
    try {
      const body = await request("GET", "/v1/files", {
        query: { q: ui.search.value.trim(), limit },
      });
      if (mine === generation) render(body);
    } catch (error) {
      if (mine !== generation) return;
      ui.summary.textContent = error.status === 401
        ? "Paste an API key to see the documents."
        : `Could not list the documents: ${error.message}`;
    }
  }

  ui.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    limit = PAGE;
    searchTimer = setTimeout(refresh, SEARCH_DELAY_MS);
  });
  ui.refresh.addEventListener("click", refresh);
  ui.more.addEventListener("click", () => {
    limit += PAGE;
    refresh();
  });

  return { refresh };
}
