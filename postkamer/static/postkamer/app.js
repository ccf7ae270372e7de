// Progressive enhancement only: every page works without this file.
"use strict";

function syncTypeFields(form) {
  const type = form.querySelector("select[name=type]");
  if (!type) return;
  const office = type.value === "office365";
  form.querySelectorAll(".imap-only").forEach((el) => { el.hidden = office; });
  form.querySelectorAll(".office365-only").forEach((el) => { el.hidden = !office; });
}

document.addEventListener("DOMContentLoaded", () => {
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
