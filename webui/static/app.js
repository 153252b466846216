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

function refreshActiveJob() {
  const section = document.getElementById("active");
  if (!section) return;
  const tick = async () => {
    try {
      const response = await fetch(document.body.dataset.apiStatus, { credentials: "same-origin" });
      if (response.ok) {
        const status = await response.json();
        const job = status.active_job;
        if (job) {
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
      }
    } finally {
      setTimeout(tick, POLL_MS * 2);
    }
  };
  setTimeout(tick, POLL_MS * 2);
}

document.addEventListener("DOMContentLoaded", () => {
  followCommand();
  refreshActiveJob();
});
