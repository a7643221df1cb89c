// The chat pane: the answer streams in as it is generated, then is replaced by the final text
// (citations the passages do not support are removed server-side) with numbered citations,
// the sources, the extractive quotes, the cache outcome and the timings.

import { streamEvents } from "./api.js";
import { baseName, el, formatMs } from "./dom.js";

const HISTORY_TURNS = 6;  // earlier turns sent along, for follow-ups like "and its default?"
const CITATION = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
const TIMINGS = ["embed", "retrieve", "first_text", "generate", "total"];

function where(passage) {
  const parts = [];
  if (passage.page !== null && passage.page !== undefined) parts.push(`page ${passage.page}`);
  if (passage.heading) parts.push(passage.heading);
  return parts.join(" · ");
}

/** One question and its answer, as built in the conversation list. */
class Turn {
  constructor(list, question) {
    this.question = question;
    this.answer = el("div", { class: "answer", "aria-busy": "true" });
    this.rewritten = el("p", { class: "rewritten muted", hidden: true });
    this.details = el("div", { class: "answer-details" });
    this.node = el(
      "li",
      { class: "turn", dataset: { state: "waiting" } },
      el("p", { class: "question" }, el("span", { class: "visually-hidden" }, "You asked: "),
        question),
      this.rewritten,
      this.answer,
      this.details,
    );
    this.answer.append(el("span", { class: "muted" }, "searching the documents…"));
    list.append(this.node);
  }

  draft(text, pieces) {
    this.node.dataset.state = "streaming";
    this.node.dataset.pieces = String(pieces);  // how many streamed pieces arrived
    this.answer.replaceChildren(el("span", { class: "draft" }, text));
  }

  fail(message) {
    this.node.dataset.state = "failed";
    this.answer.setAttribute("aria-busy", "false");
    this.answer.append(el("p", { class: "error" }, message));
  }
}

function citationButton(n, passage, open) {
  const attrs = { type: "button", class: "cite", dataset: { n: String(n) } };
  const button = el("button", attrs, `[${n}]`);
  button.setAttribute("aria-label", `Open passage ${n}: ${passage.source}`);
  button.addEventListener("click", () => open(passage));
  return button;
}

/** The answer text with each [n] (or [1, 2]) made a button that opens passage n. */
function answerPieces(text, byNumber, open) {
  const pieces = [];
  let done = 0;
  for (const match of text.matchAll(CITATION)) {
    pieces.push(text.slice(done, match.index));
    const numbers = match[1].split(",").map((n) => Number(n.trim()));
    numbers.forEach((n, i) => {
      const passage = byNumber.get(n);
      pieces.push(passage ? citationButton(n, passage, open) : `[${n}]`);
      if (i < numbers.length - 1) pieces.push(" ");
    });
    done = match.index + match[0].length;
  }
  pieces.push(text.slice(done));
  return pieces;
}

function badges(payload) {
  const cache = payload.cache || "miss";
  return el("p", { class: "badges" },
    el("span", { class: `badge cache cache-${cache}` }, `cache: ${cache}`),
    payload.abstained
      ? el("span", { class: "badge badge-abstained" }, "not in the documents")
      : null,
    payload.answer_mode === "extractive"
      ? el("span", {
        class: "badge badge-extractive",
        title: "The model's answer was not supported by the passages, so the answer quotes them.",
      }, "quoted from the documents")
      : null);
}

function sourcesList(payload, cited, open) {
  const items = (payload.passages || []).map((passage) => el(
    "li", { class: cited.has(passage.n) ? "source cited" : "source" },
    citationButton(passage.n, passage, open),
    " ",
    el("span", { class: "source-name", title: passage.source }, baseName(passage.source)),
    where(passage) ? el("span", { class: "muted" }, ` — ${where(passage)}`) : null,
    cited.has(passage.n) ? el("span", { class: "badge cited-badge" }, "cited") : null,
  ));
  if (!items.length) return null;
  return el("section", { class: "sources", "aria-label": "Sources" },
    el("h3", {}, "Sources"), el("ol", { class: "source-list" }, items));
}

function quotesList(payload, byChunk, open) {
  const items = (payload.quotes || []).map((quote) => {
    const passage = byChunk.get(quote.chunk_id) || { chunk_id: quote.chunk_id, text: quote.text };
    const button = el("button", { type: "button", class: "link" },
      `[${quote.n}] ${passage.source ? baseName(passage.source) : "passage"}`);
    button.setAttribute("aria-label", `Open the passage of quote from ${passage.source || "?"}`);
    button.addEventListener("click", () => open(passage));
    return el("li", {}, el("blockquote", { class: "quote" }, quote.text), button);
  });
  if (!items.length) return null;
  return el("section", { class: "quotes", "aria-label": "Quotes" },
    el("h3", {}, "Supporting quotes"), el("ul", { class: "quote-list" }, items));
}

function timingsLine(timings) {
  const parts = TIMINGS.filter((name) => typeof timings?.[name] === "number")
    .map((name) => `${name} ${formatMs(timings[name])}`);
  return parts.length ? el("p", { class: "timings muted" }, parts.join(" · ")) : null;
}

/** Wires the pane; ``openPassage(passage, quotes)`` shows a passage, ``notice`` an error. */
export function createChat(ui, openPassage) {
  let history = [];
  let controller = null;

  function finish(turn, payload) {
    const byNumber = new Map((payload.passages || []).map((p) => [p.n, p]));
    for (const citation of payload.citations || []) byNumber.set(citation.n, citation);
    const byChunk = new Map((payload.passages || []).map((p) => [p.chunk_id, p]));
    const quotesOf = (passage) => (payload.quotes || [])
      .filter((q) => q.chunk_id === passage.chunk_id).map((q) => q.text);
    const open = (passage) => openPassage(passage, quotesOf(passage));
    const cited = new Set((payload.citations || []).map((c) => c.n));

    turn.answer.replaceChildren(...answerPieces(payload.answer || "", byNumber, open));
    turn.answer.classList.toggle("abstained", Boolean(payload.abstained));
    turn.answer.setAttribute("aria-busy", "false");
    if (payload.rewritten_question && payload.rewritten_question !== turn.question) {
      turn.rewritten.textContent = `Searched for: ${payload.rewritten_question}`;
      turn.rewritten.hidden = false;
    }
    turn.details.replaceChildren(
      ...[badges(payload), sourcesList(payload, cited, open), quotesList(payload, byChunk, open),
        timingsLine(payload.timings_ms)].filter(Boolean),
    );
    turn.node.dataset.state = "done";
    turn.node.dataset.cache = payload.cache || "miss";
    turn.node.dataset.mode = payload.answer_mode || "";
  }

  function busy(on, text = "") {
    ui.ask.disabled = on;
    ui.stop.hidden = !on;
    ui.status.textContent = text;
  }

  async function ask(question) {
    const turn = new Turn(ui.conversation, question);
    turn.node.scrollIntoView({ block: "end" });
    const body = {
      messages: [...history.slice(-2 * HISTORY_TURNS), { role: "user", content: question }],
      stream: true,
      cache: ui.cache.checked,
    };
    const collection = ui.collection.value.trim();
    if (collection) body.collection = collection;
    const k = Number.parseInt(ui.k.value, 10);
    if (k > 0) body.k = k;

    controller = new AbortController();
    busy(true, "searching…");
    let draft = "";
    let pieces = 0;
    let final = null;
    try {
      await streamEvents("/v1/chat", body, (type, data) => {
        if (type === "token") {
          draft += data.text;
          pieces += 1;
          turn.draft(draft, pieces);
          ui.status.textContent = "answering…";
        } else if (type === "answer") {
          final = data;
          finish(turn, data);
        }
      }, controller.signal);
      if (!final) {
        turn.fail("The answer stream ended early: ask again.");
      } else {
        history.push({ role: "user", content: question });
        history.push({ role: "assistant", content: final.answer });
      }
    } catch (error) {
      if (error.name === "AbortError") turn.fail("Stopped.");
      else if (error.status === 401) turn.fail("Key rejected: paste a valid API key above.");
      else turn.fail(error.message || String(error));
    } finally {
      controller = null;
      busy(false);
    }
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = ui.question.value.trim();
    if (!question || controller) return;
    ui.question.value = "";
    ask(question);
  });
  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.stop.addEventListener("click", () => controller?.abort());
  ui.newChat.addEventListener("click", () => {
    controller?.abort();
    history = [];
    ui.conversation.replaceChildren();
    ui.question.focus();
  });
}
