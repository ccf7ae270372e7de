// Tab "Automatisch antwoord": a small text editor over the body field and a live
// preview of the reply. Without this file the form works as it is (the body field
// then takes HTML); the server cleans the text either way.
"use strict";

function escapeAttribute(text) {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

// The same document the server puts in the preview frame and sends (mail/outgoing.py
// wrap_html, with the signature as sending/compose.py with_signature adds it). The
// frame is sandboxed without scripts, so whatever the editor holds cannot run there.
function previewDocument(html, font, signature) {
  const style = `font-family: ${font.family}; font-size: ${font.size}; color: ${font.color};`;
  const body = signature ? `${html}<br>${signature}` : html;
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n` +
    `<body><div style="${escapeAttribute(style)}">${body}</div></body></html>\n`;
}

function setUpAutoReply(form) {
  const textarea = form.querySelector("textarea[name=body_html]");
  const editor = form.querySelector("#body-editor");
  const toolbar = form.querySelector(".editor-toolbar");
  const subject = form.querySelector("input[name=subject]");
  const previewSubject = document.getElementById("preview-subject");
  const previewBody = document.getElementById("preview-body");
  if (!textarea || !editor || !toolbar) return;
  const font = {
    family: editor.dataset.fontFamily,
    size: editor.dataset.fontSize,
    color: editor.dataset.fontColor,
  };
  const signature = editor.dataset.signature || "";
  const placeholder = form.dataset.placeholder;
  const example = form.dataset.exampleSubject;

  // The server sent the text cleaned, so it can be put in the editor as it is.
  editor.innerHTML = textarea.value;
  editor.style.fontFamily = font.family;
  editor.style.fontSize = font.size;
  editor.style.color = font.color;
  textarea.hidden = true;
  editor.hidden = false;
  toolbar.hidden = false;
  const help = form.querySelector("#body-help");
  if (help) help.hidden = true;
  if (textarea.getAttribute("aria-invalid")) editor.setAttribute("aria-invalid", "true");

  const updateBody = () => {
    textarea.value = editor.innerHTML;
    if (previewBody) previewBody.srcdoc = previewDocument(editor.innerHTML, font, signature);
  };
  const updateSubject = () => {
    if (previewSubject && subject) {
      previewSubject.textContent = subject.value.split(placeholder).join(example).replace(/\s+/g, " ").trim();
    }
  };
  editor.addEventListener("input", updateBody);
  if (subject) subject.addEventListener("input", updateSubject);
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-command]");
    if (!button) return;
    editor.focus();
    // execCommand is old but is still what every browser's editable areas use.
    document.execCommand(button.dataset.command, false);
    updateBody();
  });
  form.addEventListener("submit", updateBody);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("autoreply-form");
  if (form) setUpAutoReply(form);
});
