// Follows the command a form just created (pending -> applied/rejected) and keeps the
// dashboard's stage bars current by polling the JSON API. No build step, no CDN.
"use strict";

const POLL_MS = 1000;

function followCommand() {
  const banner = document.getElementById("command-banner");
  if (!banner) return;
  const url = document.body.dataset.apiCommands + "/" + encodeURIComponent(banner.dataset.commandId);
  const tick = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const command = await response.json();
      banner.querySelector(".state").textContent = command.status;
      banner.className = "banner " + command.status;
      if (command.status === "rejected") banner.querySelector(".detail").textContent = command.reject_reason || "";
      if (command.status === "applied") banner.querySelector(".detail").textContent = JSON.stringify(command.result);
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
  if (label) label.textContent = job.status;
  for (const stage of job.stages) {
    const row = section.querySelector(`tr[data-stage="${stage.stage_type}"]`);
    if (!row) continue;
    const pct = stage.total ? (100 * stage.done / stage.total) : 0;
    row.querySelector("progress").value = pct.toFixed(1);
    row.querySelector(".status").textContent = stage.status;
    row.querySelector(".counts").textContent =
      `${stage.done}/${stage.total} · running ${stage.counts.running} · failed ${stage.counts.failed} · queued ${stage.counts.queued}`;
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

document.addEventListener("DOMContentLoaded", () => {
  followCommand();
  refreshActiveJob();
});
