// Follows the command a form just created (pending -> applied/rejected) and keeps the
// dashboard's stage bars current by polling the JSON API. No build step, no CDN.
"use strict";

// Words the page shows, in its language (from the server's catalogue).
const WORDS = JSON.parse(document.body.dataset.i18n || "{}");
const t = (word) => WORDS[word] || word;

const POLL_MS = 1000;

// "Job {job_id} queued" with the command's result filled in, in the page's language.
function describe(command, phrases) {
  const phrase = phrases[command.kind];
  if (!phrase) return "";
  const values = Object.assign({}, command.payload || {}, command.result || {});
  return phrase.replace(/\{(\w+)\}/g, (_, name) => name in values ? t(String(values[name])) : "");
}

async function refreshSections() {
  const marked = document.querySelectorAll("[data-follows-commands][id]");
  if (!marked.length) return;
  try {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    marked.forEach((element) => {
      const replacement = fresh.getElementById(element.id);
      if (replacement) element.replaceWith(document.importNode(replacement, true));
    });
  } catch (error) {
    // the page stays as it was; the next visit shows the change
  }
}

function followCommand() {
  const banner = document.getElementById("command-banner");
  if (!banner) return;
  const url = document.body.dataset.apiCommands + "/" + encodeURIComponent(banner.dataset.commandId);
  const tick = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const command = await response.json();
      const state = banner.querySelector(".state");
      state.textContent = t(command.status);
      state.dataset.state = command.status;
      banner.className = "banner " + command.status;
      if (command.status === "rejected") banner.querySelector(".detail").textContent = command.reject_reason || "";
      if (command.status === "applied") {
        banner.querySelector(".detail").textContent = describe(command, JSON.parse(banner.dataset.phrases || "{}"));
        // A list on this page may have changed (a job queued): fetch the page again and swap
        // in the sections that follow commands, without navigating away.
        refreshSections();
      }
      if (command.status === "pending") setTimeout(tick, POLL_MS);
    } catch (error) {
      setTimeout(tick, POLL_MS * 3);
    }
  };
  tick();
}

function showStatus(section, status) {
  const job = status.active_job;
  const label = section.querySelector(".job-status");
  if (!job) return;
  if (label) label.textContent = t(job.status);
  for (const stage of job.stages) {
    const row = section.querySelector(`tr[data-stage="${stage.stage_type}"]`);
    if (!row) continue;
    const pct = stage.total ? (100 * stage.done / stage.total) : 0;
    row.querySelector("progress").value = pct.toFixed(1);
    row.querySelector(".status").textContent = t(stage.status);
    row.querySelector(".status").dataset.state = stage.status;
    row.querySelector(".counts").textContent =
      `${stage.done}/${stage.total} · ${t("running")} ${stage.started} · ${t("failed")} ${stage.counts.failed} · ${t("queued")} ${stage.waiting}`;
  }
}

function poll(section) {
  const tick = async () => {
    try {
      const response = await fetch(document.body.dataset.apiStatus, { credentials: "same-origin" });
      if (response.ok) showStatus(section, await response.json());
    } finally {
      setTimeout(tick, POLL_MS * 2);
    }
  };
  setTimeout(tick, POLL_MS * 2);
}

function refreshActiveJob() {
  // Live by Server-Sent Events; polling when the server refuses a stream (503) or it breaks.
  const section = document.getElementById("active");
  if (!section) return;
  if (!window.EventSource) return poll(section);
  let opened = false;
  const source = new EventSource(document.body.dataset.apiEvents);
  source.addEventListener("open", () => { opened = true; });
  source.addEventListener("status", (event) => showStatus(section, JSON.parse(event.data)));
  source.addEventListener("error", () => {
    if (!opened) { source.close(); poll(section); }
  });
}

function formatMiB(bytes) {
  return (bytes / 1048576).toFixed(1);
}

function liveWorkers() {
  // The workers page: cards follow /api/workers once a second (the runner writes them at that pace).
  const box = document.getElementById("workers");
  if (!box) return;
  const tick = async () => {
    try {
      const response = await fetch(box.dataset.api, { credentials: "same-origin" });
      if (!response.ok) return;
      const { workers } = await response.json();
      for (const worker of workers) {
        const card = box.querySelector(`[data-worker="${worker.name}"]`);
        if (!card) continue;
        card.querySelector(".status").textContent = t(worker.state);
        card.querySelector(".status").dataset.state = worker.state;
        const detail = card.querySelector(".detail");
        if (worker.state === "busy") {
          let text = worker.display_text || "";
          if (worker.bytes_done) {
            text += ` · ${formatMiB(worker.bytes_done)}` + (worker.bytes_total ? ` / ${formatMiB(worker.bytes_total)}` : "") + " MiB";
            if (worker.speed_bps) text += ` · ${formatMiB(worker.speed_bps)} MiB/s`;
          }
          detail.textContent = text;
        } else {
          detail.textContent = "";
        }
      }
    } finally {
      setTimeout(tick, POLL_MS);
    }
  };
  setTimeout(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  followCommand();
  refreshActiveJob();
  liveWorkers();
});
