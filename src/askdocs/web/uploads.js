// Uploads: drag-and-drop or a file picker, one request per file so each has its own progress
// bar, then the ingestion job followed until the file is ready or has failed with its reason.

import { ApiError, request, sendForm } from "./api.js";
import { el, formatBytes } from "./dom.js";

const POLL_MS = 600;
const PARALLEL = 2;
const POLL_ERRORS_TOLERATED = 5;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One row of the upload list; its data-state is what tests and styles look at. */
class UploadRow {
  constructor(list, label, size) {
    this.progress = el("progress", { max: "100", value: "0", "aria-label": `${label}: progress` });
    this.status = el("span", { class: "upload-status" }, "waiting");
    this.dismiss = el("button", { type: "button", class: "link", hidden: true }, "Dismiss");
    this.dismiss.setAttribute("aria-label", `Dismiss ${label}`);
    this.node = el(
      "li",
      { class: "upload", dataset: { state: "waiting" } },
      el("div", { class: "upload-head" },
        el("span", { class: "upload-name" }, label),
        el("span", { class: "muted" }, formatBytes(size))),
      this.progress,
      el("div", { class: "upload-foot" }, this.status, this.dismiss),
    );
    this.dismiss.addEventListener("click", () => this.node.remove());
    list.prepend(this.node);
  }

  show(state, text, percent) {
    this.node.dataset.state = state;
    this.status.textContent = text;
    if (percent === null) this.progress.removeAttribute("value");  // indeterminate
    else if (percent !== undefined) this.progress.value = percent;
    if (state === "ready" || state === "failed") this.dismiss.hidden = false;
  }
}

function describeJob(job) {
  const { chunks_done: done, chunks_total: total } = job.progress || {};
  switch (job.state) {
    case "queued":
      return ["queued", "queued for ingestion", null];
    case "running":
      return total
        ? ["running", `ingesting: ${done} / ${total} chunks`, Math.round((100 * done) / total)]
        : ["running", "ingesting: parsing…", null];
    case "succeeded": {
      const details = [job.outcome, total ? `${total} ${total === 1 ? "chunk" : "chunks"}` : ""];
      const said = details.filter(Boolean).join(", ");
      return ["ready", said ? `ready (${said})` : "ready", 100];
    }
    default:
      return ["failed", `failed: ${job.error || "no reason given"}`, 100];
  }
}

function describeError(error) {
  if (!(error instanceof ApiError)) return String(error);
  if (error.status === 401) return "key rejected: paste a valid API key above";
  if (error.status === 413) return `too large: ${error.message}`;
  if (error.status === 415) return `unsupported type: ${error.message}`;
  return error.message;
}

/** Polls the job until it ends; a few failed polls in a row are waited out, not reported. */
async function follow(row, jobId) {
  let errors = 0;
  for (;;) {
    let job;
    try {
      job = await request("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
      errors = 0;
    } catch (error) {
      errors += 1;
      if (error.status === 401 || error.status === 404 || errors > POLL_ERRORS_TOLERATED) {
        row.show("failed", `status unknown: ${describeError(error)}`);
        return;
      }
      await sleep(POLL_MS * errors);
      continue;
    }
    const [state, text, percent] = describeJob(job);
    row.show(state, text, percent);
    if (job.state === "succeeded" || job.state === "failed") return;
    await sleep(POLL_MS);
  }
}

/**
 * Wires the drop zone, the picker and the replace picker. ``changed`` is called whenever the
 * document list may have changed (accepted, ingested, failed).
 */
export function createUploads(ui, changed) {
  const waiting = [];
  let running = 0;

  function pump() {
    while (running < PARALLEL && waiting.length) {
      const task = waiting.shift();
      running += 1;
      task().finally(() => {
        running -= 1;
        pump();
      });
    }
  }

  const finished = () => ui.list.querySelectorAll('[data-state="ready"], [data-state="failed"]');
  const offerClear = () => {
    ui.clear.hidden = finished().length === 0;
  };
  // A removed row or a hidden button takes the keyboard focus with it: give it back.
  const keepFocus = () => {
    if (!document.activeElement || document.activeElement === document.body) ui.choose.focus();
  };
  ui.clear.addEventListener("click", () => {
    finished().forEach((row) => row.remove());
    offerClear();
    keepFocus();
  });
  ui.list.addEventListener("click", () => setTimeout(() => {  // after a Dismiss
    offerClear();
    keepFocus();
  }));

  function enqueue(label, file, method, path, fields) {
    const row = new UploadRow(ui.list, label, file.size);
    waiting.push(async () => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append("file", file, file.name);
      row.show("uploading", "uploading 0%", 0);
      let accepted;
      try {
        accepted = await sendForm(method, path, form, (loaded, total) => {
          const percent = total ? Math.round((100 * loaded) / total) : 100;
          row.show("uploading", `uploading ${percent}%`, percent);
        });
      } catch (error) {
        row.show("failed", describeError(error), 0);
        offerClear();
        return;
      }
      const job = Array.isArray(accepted.files) ? accepted.files[0] : accepted;
      row.show("queued", "queued for ingestion", null);
      changed();
      await follow(row, job.job_id);
      offerClear();
      changed();
    });
    pump();
  }

  function uploadAll(files) {
    const collection = ui.collection.value.trim();
    for (const file of files) {
      enqueue(file.name, file, "POST", "/v1/files", collection ? { collection } : {});
    }
  }

  ui.choose.addEventListener("click", () => ui.input.click());
  ui.input.addEventListener("change", () => {
    uploadAll([...ui.input.files]);
    ui.input.value = "";
  });

  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  ui.zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    ui.zone.classList.add("dragging");
  });
  ui.zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  ui.zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) ui.zone.classList.remove("dragging");
  });
  ui.zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    ui.zone.classList.remove("dragging");
    uploadAll([...(event.dataTransfer?.files || [])]);
  });
  // A file dropped beside the zone would otherwise replace the page with the file.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event) && !ui.zone.contains(event.target)) event.preventDefault();
    });
  }

  let replacing = null;
  ui.replaceInput.addEventListener("change", () => {
    const file = ui.replaceInput.files[0];
    ui.replaceInput.value = "";
    if (!file || !replacing) return;
    const doc = replacing;
    replacing = null;
    const path = `/v1/files/${encodeURIComponent(doc.document_id)}`;
    enqueue(`${doc.source} ← ${file.name}`, file, "PUT", path, {});
  });

  return {
    /** Asks for a file and uploads it as the new version of ``doc``. */
    replace(doc) {
      replacing = doc;
      ui.replaceInput.click();
    },
  };
}
