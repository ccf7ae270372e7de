// Progressive enhancement only: every page works without this file.
"use strict";

function syncTypeFields(form) {
  const type = form.querySelector("select[name=type]");
  if (!type) return;
  // IMAP mailboxes have server settings; Office 365 and Google ones sign in instead.
  const shown = {
    "imap-only": type.value === "imap",
    "oauth-only": type.value !== "imap",
    "office365-only": type.value === "office365",
    "gmail-only": type.value === "gmail",
  };
  Object.entries(shown).forEach(([name, show]) => {
    form.querySelectorAll(`.${name}`).forEach((el) => { el.hidden = !show; });
  });
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

// Tab Eigenaar: the panel's forms work on their own (GET/POST + redirect). With
// JavaScript they are sent with fetch() and the server returns just the panel,
// which replaces the old one, so the page keeps its place and focus.
function ownersPanel() {
  return document.querySelector("[data-owners-panel]");
}

function errorText(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const notice = doc.querySelector(".notice.error, main p");
  return notice ? notice.textContent.trim() : "";
}

async function submitOwnersForm(form, submitter) {
  const data = new FormData(form);
  if (submitter && submitter.name) data.append(submitter.name, submitter.value);
  const headers = { "X-Requested-With": "fetch" };
  const method = (form.getAttribute("method") || "get").toUpperCase();
  let url = form.action;
  const options = { method, headers, credentials: "same-origin" };
  if (method === "GET") {
    const query = new URLSearchParams(data);
    url = `${url.split("?")[0]}?${query}`;
  } else {
    options.body = data;
  }
  const focusKey = submitter ? submitter.dataset.focusKey : null;
  const response = await fetch(url, options);
  const html = await response.text();
  const panel = ownersPanel();
  if (!response.ok) {
    const status = panel.querySelector("[data-owners-status]");
    status.textContent = errorText(html) || response.statusText;
    status.classList.add("error");
    status.focus();
    return;
  }
  panel.outerHTML = html;
  if (method === "GET") history.replaceState(null, "", url);
  const fresh = ownersPanel();
  const target = (focusKey && fresh.querySelector(`[data-focus-key="${focusKey}"]`))
    || fresh.querySelector("[data-owners-status]");
  target.focus();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("[data-owners-panel] form[data-owners-form]")) return;
  event.preventDefault();
  submitOwnersForm(form, event.submitter).catch(() => form.submit());
});

// The message list: a click anywhere on a row opens the message (the subject is the
// real link, for keyboards and for opening in a new tab).
document.addEventListener("click", (event) => {
  const row = event.target.closest("table.messages tr[data-href]");
  if (!row || event.target.closest("a, button, input")) return;
  if (window.getSelection && String(window.getSelection())) return;
  window.location.href = row.dataset.href;
});
