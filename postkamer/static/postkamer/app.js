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
