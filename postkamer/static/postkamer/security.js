// Progressive enhancement: a copy button next to each record to add; without
// JavaScript the record can still be selected by hand.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.copy[data-copy]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      navigator.clipboard.writeText(source.textContent).then(() => {
        button.textContent = button.dataset.done;
      });
    });
  });
});
