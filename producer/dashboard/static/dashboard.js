// dueq dashboard: refresh the page's live part, and send button clicks as POSTs.
"use strict";

const live = document.getElementById("live");
const flash = document.getElementById("flash");

async function refresh() {
  if (live.querySelector("details[open]")) return; // do not close what is being read
  const url = new URL(location.href);
  url.searchParams.set("partial", "1");
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.ok) live.innerHTML = await response.text();
}

async function act(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const response = await fetch(button.dataset.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-Dueq-Action": "1" },
  });
  const answer = await response.json().catch(() => ({ message: response.statusText }));
  flash.textContent = answer.message;
  flash.className = response.ok ? "ok" : "error";
  await refresh();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  event.preventDefault();
  act(button);
});

setInterval(refresh, Number(live.dataset.refreshMs) || 2000);
