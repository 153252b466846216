// Follows the command a form just created (pending -> applied/rejected), keeps the pages'
// live sections current as the runner works, and the workers' cards. No build step, no CDN.
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

const REFRESH_MS = 1000;       // at most one refresh of a page's live sections a second
const FALLBACK_POLL_MS = 5000; // without a live stream, sections are fetched this often

function busy(element) {
  // Someone is typing, reading an opened detail or selecting text there: leave it as it is.
  const active = document.activeElement;
  if (active && element.contains(active) && active.matches("input, select, textarea")) return true;
  if (element.querySelector("details[open]")) return true;
  const selection = window.getSelection && window.getSelection();
  return Boolean(selection && !selection.isCollapsed && element.contains(selection.anchorNode));
}

async function refreshSections() {
  const marked = document.querySelectorAll("[data-follows-commands][id]");
  if (!marked.length) return;
  try {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } });
    if (!response.ok || response.redirected) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    marked.forEach((element) => {
      const replacement = fresh.getElementById(element.id);
      if (replacement && !busy(element) && replacement.innerHTML !== element.innerHTML) {
        element.replaceWith(document.importNode(replacement, true));
      }
    });
    document.body.dataset.refreshedAt = String(Date.now());
  } catch (error) {
    // the page stays as it was; the next change or poll tries again
  }
}

let refreshTimer = null;
let lastRefresh = 0;
function scheduleRefresh() {
  if (refreshTimer) return;
  const wait = Math.max(0, lastRefresh + REFRESH_MS - Date.now());
  refreshTimer = setTimeout(async () => {
    lastRefresh = Date.now();
    await refreshSections();
    refreshTimer = null;
  }, wait);
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
      if (command.status === "rejected") {
        banner.querySelector(".detail").textContent = command.reject_reason_text || command.reject_reason || "";
      }
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

function showStatus(status) {
  // The dashboard's progress bars and heartbeat, straight from the stream between refreshes.
  const age = document.querySelector("#runner .heartbeat-age");
  if (age && status.runner && status.runner.state === "up") age.textContent = String(status.runner.heartbeat_age_s);
  const section = document.getElementById("active");
  const job = status.active_job;
  if (!section || !job) return;
  const label = section.querySelector(".job-status");
  if (label) {
    // A pause or cancel under way waits for the items in flight: say how many (the page says it in full).
    const flying = job.stages.reduce((n, stage) => n + (stage.started || 0), 0);
    label.textContent = ["pause_requested", "cancel_requested"].includes(job.status)
      ? `${t(job.status)} · ${t("running")} ${flying}` : t(job.status);
  }
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

function live() {
  // Pages with live sections follow the runner: by Server-Sent Events (a "job" event or a
  // changed status refreshes them), or by polling when the server refuses a stream (503) or
  // the browser has none.
  if (!document.querySelector("[data-follows-commands][id]")) return;
  let polling = false;
  const fallback = () => {
    if (polling) return;
    polling = true;
    document.body.dataset.live = "polling";
    setInterval(scheduleRefresh, FALLBACK_POLL_MS);
  };
  if (!window.EventSource) return fallback();
  let signature = null;
  const source = new EventSource(document.body.dataset.apiEvents);
  source.addEventListener("open", () => { document.body.dataset.live = "stream"; });
  source.addEventListener("status", (event) => {
    const status = JSON.parse(event.data);
    showStatus(status);
    // The heartbeat changes every few seconds; anything else that changed is worth a refresh.
    const runner = Object.assign({}, status.runner, { heartbeat_at: null, heartbeat_age_s: null });
    const now = JSON.stringify(Object.assign({}, status, { runner }));
    if (signature !== null && now !== signature) scheduleRefresh();
    signature = now;
  });
  source.addEventListener("job", scheduleRefresh);
  source.addEventListener("error", () => {
    // A refused or broken stream the browser will not retry: poll instead.
    if (source.readyState === EventSource.CLOSED) fallback();
  });
}

function liveWorkers() {
  // The workers' cards, as the server draws them (in the page's language), once a second: the
  // runner writes its workers at that pace. New workers get a card, gone ones lose theirs, and
  // the times ("12 s ago") move on.
  const tick = async () => {
    const box = document.getElementById("workers");
    if (!box) return;
    try {
      const response = await fetch(box.dataset.cards, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("workers");
      if (fresh && !busy(box) && fresh.innerHTML !== box.innerHTML) {
        box.replaceWith(document.importNode(fresh, true));
        document.body.dataset.workersAt = String(Date.now());
      }
    } catch (error) {
      // the cards stay as they were; the next tick tries again
    } finally {
      setTimeout(tick, POLL_MS);
    }
  };
  if (document.getElementById("workers")) setTimeout(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  followCommand();
  live();
  liveWorkers();
});
