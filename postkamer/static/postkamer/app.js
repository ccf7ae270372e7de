// Progressive enhancement only: every page works without this file.
"use strict";

function syncTypeFields(form) {
  const type = form.querySelector("select[name=type]");
  if (!type) return;
  const office = type.value === "office365";
  form.querySelectorAll(".imap-only").forEach((el) => { el.hidden = office; });
  form.querySelectorAll(".office365-only").forEach((el) => { el.hidden = !office; });
}

function csrfToken(form) {
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

// The fetch button without a page reload: queue, poll the run's status, then swap in
// the fresh message list (the server answers the same page again).
async function pollRun(statusLine, url) {
  for (let i = 0; i < 300; i += 1) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return null;
    const run = await response.json();
    statusLine.dataset.state = run.state;
    statusLine.textContent = run.summary;
    statusLine.classList.toggle("error", run.state === "failed");
    if (!["queued", "running"].includes(run.state)) return run;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return null;
}

async function refreshList() {
  const response = await fetch(window.location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("message-list");
  const current = document.getElementById("message-list");
  if (fresh && current) current.replaceWith(fresh);
  const notice = page.querySelector(".mailbox-view > .notice.error");
  const view = document.querySelector(".mailbox-view");
  const old = view && view.querySelector(":scope > .notice.error");
  if (old) old.remove();
  if (notice && view) view.querySelector(".fetch-status").before(notice);
}

function enhanceFetchForm(form) {
  const statusLine = document.querySelector(".fetch-status");
  const button = form.querySelector("button");
  form.addEventListener("submit", async (event) => {
    if (!statusLine || !window.fetch) return;
    event.preventDefault();
    button.disabled = true;
    statusLine.textContent = button.dataset.busy;
    statusLine.classList.remove("error");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
        credentials: "same-origin",
      });
      if (!response.ok) { form.submit(); return; }
      const queued = await response.json();
      const run = await pollRun(statusLine, queued.status_url);
      if (run) await refreshList();
    } finally {
      button.disabled = false;
    }
  });
  // A fetch still running when the page opened: keep the status line current.
  if (statusLine && ["queued", "running"].includes(statusLine.dataset.state) && statusLine.dataset.statusUrl) {
    pollRun(statusLine, statusLine.dataset.statusUrl).then((run) => { if (run) refreshList(); });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.fetch-form").forEach(enhanceFetchForm);
  document.querySelectorAll("form.mailbox-form").forEach((form) => {
    syncTypeFields(form);
    form.addEventListener("change", (event) => {
      if (event.target.name === "type") syncTypeFields(form);
    });
  });
});
