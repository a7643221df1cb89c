// The passage panel: a cited passage, highlighted between its neighbours, with where it comes
// from (file, page, heading), so a reader can check what the answer says.

import { request } from "./api.js";
import { download } from "./documents.js";
import { el } from "./dom.js";

/** Chunk offsets are usable only where the text is exactly the slice they name. */
function sliceable(chunk) {
  return Number.isInteger(chunk.start) && Number.isInteger(chunk.end)
    && chunk.text.length === chunk.end - chunk.start;
}

/** What to show of a neighbour before the target: its text up to where the target begins. */
function leading(chunk, target) {
  if (sliceable(chunk) && sliceable(target) && chunk.end > target.start) {
    return chunk.text.slice(0, Math.max(0, target.start - chunk.start));
  }
  return chunk.text;
}

/** What to show of a neighbour after the target: its text from where the target ends. */
function trailing(chunk, target) {
  if (sliceable(chunk) && sliceable(target) && chunk.start < target.end) {
    return chunk.text.slice(Math.min(chunk.text.length, target.end - chunk.start));
  }
  return chunk.text;
}

/** The white space that stood between two pieces in the file, roughly. */
function gap(from, to) {
  if (!Number.isInteger(from) || !Number.isInteger(to)) return "\n\n";
  const chars = to - from;
  return chars <= 0 ? "" : chars === 1 ? " " : "\n\n";
}

/** The target text with each quote found in it emphasised. */
function withQuotes(text, quotes) {
  const spans = [];
  for (const quote of quotes) {
    const at = quote ? text.indexOf(quote) : -1;
    if (at >= 0) spans.push([at, at + quote.length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const pieces = [];
  let done = 0;
  for (const [start, end] of spans) {
    if (start < done) continue;
    pieces.push(text.slice(done, start));
    pieces.push(el("strong", { class: "quote-hit" }, text.slice(start, end)));
    done = end;
  }
  pieces.push(text.slice(done));
  return pieces;
}

/** Whether the file is still there to download (a replaced one is; a deleted one is not). */
async function fileExists(documentId) {
  if (!documentId) return false;
  try {
    const file = await request("GET", `/v1/files/${encodeURIComponent(documentId)}`);
    return file.version !== null && file.version !== undefined;
  } catch {
    return false;
  }
}

function metaRow(term, value) {
  if (value === null || value === undefined || value === "") return [];
  return [el("dt", {}, term), el("dd", {}, String(value))];
}

/** Wires the dialog; returns open(reference, quotes) for citations, sources and quotes. */
export function createPassageViewer(ui, report) {
  let opener = null;
  let current = null;

  function showMeta(passage, collection) {
    const chars = Number.isInteger(passage.start) ? `${passage.start}–${passage.end}` : "";
    ui.meta.replaceChildren(
      ...metaRow("Source", passage.source),
      ...metaRow("Page", passage.page),
      ...metaRow("Heading", passage.heading),
      ...metaRow("Collection", collection),
      ...metaRow("Version", passage.version),
      ...metaRow("Characters", chars),
    );
  }

  function showText(target, before, after, quotes) {
    const pieces = [];
    let end = null;
    for (const chunk of before) {
      const text = leading(chunk, target);
      if (!text) continue;
      if (end !== null) pieces.push(gap(end, chunk.start));
      pieces.push(el("span", { class: "context" }, text));
      end = sliceable(chunk) ? chunk.start + text.length : chunk.end;
    }
    if (end !== null) pieces.push(gap(end, target.start));
    const mark = el("mark", { class: "target" }, withQuotes(target.text, quotes));
    pieces.push(mark);
    end = target.end;
    for (const chunk of after) {
      const text = trailing(chunk, target);
      if (!text) continue;
      const start = sliceable(chunk) ? chunk.end - text.length : chunk.start;
      pieces.push(gap(end, start), el("span", { class: "context" }, text));
      end = chunk.end;
    }
    ui.text.replaceChildren(...pieces);
    // Scroll only the text box (scrollIntoView would move the page behind the dialog too).
    ui.text.scrollTop = Math.max(0, mark.offsetTop - ui.text.offsetTop - 24);
  }

  async function open(reference, quotes = []) {
    opener = document.activeElement;
    current = reference;
    ui.title.textContent = reference.n ? `Passage [${reference.n}]` : "Passage";
    ui.note.hidden = true;
    ui.download.hidden = !reference.document_id;
    showMeta(reference, reference.collection);
    ui.text.replaceChildren(el("span", { class: "muted" }, "loading the passage…"));
    ui.dialog.dataset.state = "loading";
    if (!ui.dialog.open) ui.dialog.showModal();
    try {
      const found = await request("GET", `/v1/passages/${encodeURIComponent(reference.chunk_id)}`);
      if (current !== reference) return;
      showMeta(found.passage, found.collection);
      showText(found.passage, found.before || [], found.after || [], quotes);
      ui.dialog.dataset.state = "live";
    } catch (error) {
      if (current !== reference) return;
      // The answer still holds the text it was given, even if the file has since changed.
      ui.note.textContent = error.status === 404
        ? "This passage is no longer in the index (its file was replaced or deleted). " +
          "Shown as it was when the answer was given."
        : `Could not load the passage's neighbours: ${error.message}`;
      ui.note.hidden = false;
      showText(reference, [], [], quotes);
      ui.dialog.dataset.state = "stale";
      if (error.status === 404) ui.download.hidden = !(await fileExists(reference.document_id));
    }
  }

  function close() {
    ui.dialog.close();
  }

  ui.close.addEventListener("click", close);
  ui.dialog.addEventListener("click", (event) => {
    if (event.target === ui.dialog) close();  // a click on the backdrop
  });
  ui.dialog.addEventListener("close", () => {
    current = null;
    if (opener && opener.isConnected) opener.focus();
  });
  ui.download.addEventListener("click", async () => {
    if (!current) return;
    try {
      await download(current.document_id, current.source);
    } catch (error) {
      report(`Could not download ${current.source}: ${error.message}`);
    }
  });

  return { open };
}
