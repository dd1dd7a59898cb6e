// Ferry console: progressive enhancements only. Every page works without
// this script; with it, destructive buttons ask first, the log can follow
// new lines, and the overview refreshes itself.
"use strict";

// Forms marked data-confirm ask before they are sent.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Replaces the element with id `id` by the fragment at `url` every `ms`.
function refresh(id, url, ms) {
  const target = document.getElementById(id);
  if (!target) return;
  window.setInterval(async () => {
    const answer = await fetch(url, { credentials: "same-origin" });
    if (answer.ok) target.innerHTML = await answer.text();
  }, ms);
}

refresh("overview-panel", "/console/overview/panel", 10000);

// Live follow of the log: newer lines are fetched every two seconds and
// put on top; rows already shown (same data-key) are skipped.
(() => {
  const toggle = document.getElementById("follow");
  const rows = document.getElementById("log-rows");
  if (!toggle || !rows) return;
  const newest = () => {
    const first = rows.querySelector("tr[data-time]");
    return first ? first.getAttribute("data-time") : String(Date.now());
  };
  let timer = null;
  const poll = async () => {
    const params = new URLSearchParams(window.location.search);
    params.set("after", newest());
    const answer = await fetch("/console/logs/rows?" + params.toString(), { credentials: "same-origin" });
    if (!answer.ok) return;
    const holder = document.createElement("tbody");
    holder.innerHTML = await answer.text();
    const fresh = Array.from(holder.querySelectorAll("tr[data-key]"))
      .filter((row) => !rows.querySelector(`tr[data-key="${CSS.escape(row.getAttribute("data-key"))}"]`));
    fresh.reverse().forEach((row) => rows.prepend(row));
    const empty = document.getElementById("log-empty");
    if (fresh.length && empty) empty.remove();
  };
  toggle.addEventListener("change", () => {
    if (toggle.checked) {
      timer = window.setInterval(poll, 2000);
      poll();
    } else {
      window.clearInterval(timer);
    }
  });
  toggle.disabled = false;
})();
