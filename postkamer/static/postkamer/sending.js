// Writing mail: the editor, autosave, attachments, address suggestions, the send state
// and the template preview. Progressive enhancement: every page works without it.
// No inline scripts anywhere (a Content-Security-Policy of script-src 'self').
"use strict";

(() => {
  const STORE_PREFIX = "postkamer:draft:";
  const SAVE_AFTER_MS = 1500; // quiet time before an autosave
  const SAVE_AT_LEAST_MS = 5000; // while typing on, save at least this often

  function csrf(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // -- the editor ------------------------------------------------------------------

  function setupEditor(root, onChange) {
    const body = root.querySelector(".editor-body");
    const source = root.querySelector("textarea");
    const toolbar = root.querySelector(".editor-toolbar");
    if (!body || !source || !document.execCommand) return null;
    body.style.fontFamily = body.dataset.fontFamily || "";
    if (body.dataset.fontSize) body.style.fontSize = `${body.dataset.fontSize}pt`;
    body.style.color = body.dataset.fontColor || "";
    body.hidden = false;
    toolbar.hidden = false;
    source.hidden = true;
    const sync = () => { source.value = body.innerHTML; };
    body.addEventListener("input", () => { sync(); onChange(); });
    toolbar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-cmd]");
      if (!button) return;
      body.focus();
      const cmd = button.dataset.cmd;
      if (cmd === "createLink") {
        const url = window.prompt(button.dataset.prompt || "URL", "https://");
        if (!url || !/^(https?:|mailto:|tel:)/i.test(url.trim())) return;
        document.execCommand(cmd, false, url.trim());
      } else {
        document.execCommand(cmd, false, null);
      }
      sync();
      onChange();
    });
    return {
      body,
      set(html) { body.innerHTML = html; sync(); },
      get() { sync(); return source.value; },
    };
  }

  // -- autosave --------------------------------------------------------------------

  function fieldsOf(form) {
    const data = {};
    ["mailbox", "to", "cc", "bcc", "subject", "body_html"].forEach((name) => {
      const el = form.elements[name];
      if (el) data[name] = el.value;
    });
    return data;
  }

  function formDataOf(form, fields) {
    const data = new FormData();
    data.append("csrfmiddlewaretoken", csrf(form));
    data.append("client_key", form.dataset.clientKey);
    Object.entries(fields).forEach(([k, v]) => data.append(k, v));
    return data;
  }

  function readStore(key) {
    try { return JSON.parse(window.localStorage.getItem(STORE_PREFIX + key) || "null"); } catch (e) { return null; }
  }

  function writeStore(key, value) {
    try { window.localStorage.setItem(STORE_PREFIX + key, JSON.stringify(value)); } catch (e) { /* full or off */ }
  }

  function dropStore(key) {
    try { window.localStorage.removeItem(STORE_PREFIX + key); } catch (e) { /* ignore */ }
  }

  async function postFields(url, form, fields) {
    const response = await fetch(url, {
      method: "POST",
      body: formDataOf(form, fields),
      headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
      credentials: "same-origin",
    });
    let payload = {};
    try { payload = await response.json(); } catch (e) { /* not JSON */ }
    return { status: response.status, payload };
  }

  function setupCompose(form) {
    const key = form.dataset.clientKey;
    const statusLine = form.querySelector("[data-autosave-status]");
    let saveUrl = form.getAttribute("action");
    let version = 0; // bumped on every change
    let savedVersion = 0;
    let timer = null;
    let firstUnsaved = 0;
    let saving = null;
    let locked = false;
    let submitting = false;

    const say = (text, isError) => {
      if (!statusLine) return;
      statusLine.textContent = text;
      statusLine.classList.toggle("error", Boolean(isError));
    };

    const remember = () => {
      writeStore(key, { saveUrl, fields: fieldsOf(form), changedAt: Date.now(), serverUpdated: Number(form.dataset.updated || 0) });
    };

    const adopt = (payload) => {
      if (!payload || !payload.url) return;
      if (saveUrl !== payload.url) {
        saveUrl = payload.url;
        form.setAttribute("action", payload.url);
        form.dataset.draft = String(payload.id);
        window.history.replaceState(null, "", payload.url);
        attachments.draftSaved(payload);
      }
      form.dataset.updated = String(payload.updated || 0);
      if (payload.attachments) attachments.render(payload.attachments, payload.attachments_size);
    };

    async function save() {
      if (locked || submitting) return;
      if (saving) { await saving; }
      if (savedVersion === version) return;
      const target = version;
      const fields = fieldsOf(form);
      say(form.dataset.savingText);
      saving = (async () => {
        try {
          const { status, payload } = await postFields(saveUrl, form, fields);
          if (status === 409) {
            locked = true;
            dropStore(key);
            say(form.dataset.lockedText, true);
            return;
          }
          if (status >= 200 && status < 300) {
            adopt(payload);
            savedVersion = Math.max(savedVersion, target);
            if (savedVersion === version) {
              dropStore(key); // the server has it: the browser copy is no longer needed
              firstUnsaved = 0;
              say(`${form.dataset.savedText} ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`);
            }
            return;
          }
          say(form.dataset.offlineText, true);
        } catch (e) {
          say(form.dataset.offlineText, true);
        } finally {
          saving = null;
        }
      })();
      await saving;
    }

    const changed = () => {
      if (locked) return;
      version += 1;
      remember();
      const now = Date.now();
      if (!firstUnsaved) firstUnsaved = now;
      window.clearTimeout(timer);
      const wait = now - firstUnsaved >= SAVE_AT_LEAST_MS ? 0 : SAVE_AFTER_MS;
      timer = window.setTimeout(save, wait);
    };

    const editorRoot = form.querySelector("[data-editor]");
    const editor = editorRoot ? setupEditor(editorRoot, changed) : null;
    form.addEventListener("input", (event) => {
      if (event.target.closest(".editor-body") || event.target.type === "file") return;
      changed();
    });
    form.addEventListener("change", (event) => {
      if (event.target.name === "mailbox") changed();
    });

    // Leaving the page: send what is not saved yet in a way that survives the
    // page going away; the localStorage copy stays until a page confirms it.
    const flush = () => {
      if (locked || submitting || savedVersion === version) return;
      remember();
      if (navigator.sendBeacon) navigator.sendBeacon(saveUrl, formDataOf(form, fieldsOf(form)));
    };
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") flush();
    });
    window.addEventListener("pagehide", flush);

    form.addEventListener("submit", (event) => {
      if (editor) editor.get();
      const button = event.submitter;
      if (button && button.name === "remove_attachment" && button.dataset.removeUrl && form.dataset.draft) {
        event.preventDefault();
        attachments.remove(button.dataset.removeUrl);
        return;
      }
      submitting = true;
      window.clearTimeout(timer);
      remember(); // kept until the next page confirms the server has it
    });

    // What an earlier visit typed but the server never confirmed comes back.
    const stored = readStore(key);
    if (stored && stored.fields && stored.changedAt > Number(form.dataset.updated || 0)) {
      Object.entries(stored.fields).forEach(([name, value]) => {
        if (name === "body_html") { if (editor) editor.set(value); else form.elements.body_html.value = value; }
        else if (form.elements[name]) form.elements[name].value = value;
      });
      if (stored.saveUrl && stored.saveUrl !== saveUrl && /\/outgoing\/\d+\/$/.test(stored.saveUrl)) {
        saveUrl = stored.saveUrl;
        form.setAttribute("action", saveUrl);
      }
      say(form.dataset.restoredText);
      version += 1;
      save();
    } else if (stored) {
      dropStore(key);
    }

    const attachments = setupAttachments(form, async () => {
      if (!form.dataset.draft) {
        version += 1;
        await save();
      }
      return form.dataset.draft;
    });
    form.querySelectorAll("[data-address-field] input").forEach((input) => setupAddressField(input, changed));
    return { save };
  }

  // -- attachments -----------------------------------------------------------------

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  }

  function setupAttachments(form, ensureDraft) {
    const box = form.querySelector("[data-attachments]");
    const noop = { render() {}, remove() {}, draftSaved() {} };
    if (!box) return noop;
    const list = box.querySelector("[data-attachment-list]");
    const input = box.querySelector("input[type=file]");
    const error = box.querySelector("[data-attachment-error]");
    const limit = Number(box.dataset.limit);
    let used = Number(box.dataset.used || 0);

    const showError = (text) => { error.textContent = text || ""; error.hidden = !text; };

    const api = {
      render(items, size) {
        used = size;
        list.replaceChildren(...items.map((item) => {
          const li = document.createElement("li");
          li.dataset.id = item.id;
          const name = document.createElement("span");
          name.className = "name";
          name.textContent = item.filename;
          const size = document.createElement("span");
          size.className = "muted";
          size.textContent = ` (${formatSize(item.size)}) `;
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link";
          remove.textContent = box.dataset.removeText;
          remove.addEventListener("click", () => api.remove(`${form.getAttribute("action")}attachments/${item.id}/delete/`));
          li.append(name, size, remove);
          return li;
        }));
      },
      async remove(url) {
        const response = await fetch(url, {
          method: "POST",
          headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
          credentials: "same-origin",
        });
        if (response.ok) {
          const payload = await response.json();
          api.render(payload.attachments, payload.attachments_size);
        }
      },
      draftSaved(payload) {
        box.dataset.uploadUrl = `${payload.url}attachments/`;
      },
    };

    if (input) {
      input.addEventListener("change", async () => {
        const files = Array.from(input.files || []);
        if (!files.length) return;
        const total = files.reduce((sum, f) => sum + f.size, used);
        if (total > limit) {
          // Told before a single byte is sent.
          showError(box.dataset.tooBig);
          input.value = "";
          return;
        }
        showError("");
        const draftId = await ensureDraft();
        if (!draftId) return;
        const data = new FormData();
        data.append("csrfmiddlewaretoken", csrf(form));
        files.forEach((f) => data.append("files", f, f.name));
        const response = await fetch(box.dataset.uploadUrl || `${form.getAttribute("action")}attachments/`, {
          method: "POST",
          body: data,
          headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
          credentials: "same-origin",
        });
        const payload = await response.json().catch(() => ({}));
        if (response.ok) {
          api.render(payload.attachments, payload.attachments_size);
        } else {
          showError(Object.values(payload.errors || {}).flat().join(" ") || box.dataset.tooBig);
        }
        input.value = "";
      });
    }
    return api;
  }

  // -- address fields --------------------------------------------------------------

  const ADDRESS_RE = /^[^@\s<>,;"]+@[^@\s<>,;"]+\.[^@\s<>,;"]+$/;

  function tokens(value) {
    return value.split(/[,;](?=(?:[^"]*"[^"]*")*[^"]*$)/).map((t) => t.trim()).filter(Boolean);
  }

  function addressOf(token) {
    const m = token.match(/<([^>]*)>\s*$/);
    return (m ? m[1] : token).trim();
  }

  function setupAddressField(input, onChange) {
    const wrapper = input.closest("[data-address-field]");
    const list = wrapper.querySelector(".suggestions");
    const error = wrapper.querySelector("[data-address-error]");
    let timer = null;
    let active = -1;

    const close = () => { list.hidden = true; list.replaceChildren(); active = -1; input.setAttribute("aria-expanded", "false"); };

    const choose = (item) => {
      const parts = tokens(input.value);
      parts.pop();
      const text = item.name ? `${item.name.includes(",") ? `"${item.name}"` : item.name} <${item.address}>` : item.address;
      input.value = [...parts, text].join(", ") + ", ";
      close();
      input.focus();
      onChange();
    };

    const show = (results) => {
      list.replaceChildren(...results.map((item, i) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = `${list.id}-${i}`;
        li.textContent = item.name ? `${item.name} <${item.address}>` : item.address;
        li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
        li.item = item;
        return li;
      }));
      list.hidden = !results.length;
      input.setAttribute("aria-expanded", String(Boolean(results.length)));
    };

    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      const last = input.value.split(/[,;]/).pop().trim();
      if (last.length < 2) { close(); return; }
      timer = window.setTimeout(async () => {
        try {
          const response = await fetch(`${input.dataset.suggestUrl}?q=${encodeURIComponent(last)}`, {
            headers: { Accept: "application/json" }, credentials: "same-origin",
          });
          if (response.ok) show((await response.json()).results || []);
        } catch (e) { close(); }
      }, 200);
    });
    input.addEventListener("keydown", (event) => {
      const items = Array.from(list.children);
      if (list.hidden || !items.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
        input.setAttribute("aria-activedescendant", items[active].id);
      } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
        event.preventDefault();
        choose(items[active].item);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", () => {
      window.setTimeout(close, 150);
      const bad = tokens(input.value).filter((t) => !ADDRESS_RE.test(addressOf(t)));
      error.hidden = !bad.length;
      error.textContent = bad.map((t) => `${input.dataset.label}: '${t}' ${input.dataset.invalidText}.`).join(" ");
      wrapper.classList.toggle("invalid", Boolean(bad.length));
    });
  }

  // -- the outbox: push what never reached the server, follow the send state ------

  async function pushStoredDrafts(root) {
    let pushed = 0;
    const token = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || "";
    for (let i = 0; i < window.localStorage.length; i += 1) {
      const name = window.localStorage.key(i);
      if (!name || !name.startsWith(STORE_PREFIX)) continue;
      const key = name.slice(STORE_PREFIX.length);
      const stored = readStore(key);
      if (!stored || !stored.saveUrl) { dropStore(key); continue; }
      const data = new FormData();
      data.append("csrfmiddlewaretoken", token);
      data.append("client_key", key);
      Object.entries(stored.fields || {}).forEach(([k, v]) => data.append(k, v));
      try {
        const response = await fetch(stored.saveUrl, {
          method: "POST", body: data, credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": token },
        });
        if (response.ok || response.status === 409 || response.status === 404) {
          dropStore(key);
          const payload = response.ok ? await response.json().catch(() => ({})) : {};
          // Only a draft the list does not show yet is worth reloading for.
          if (payload.id && !root.querySelector(`[data-outgoing="${payload.id}"]`)) pushed += 1;
        }
      } catch (e) { /* offline: try again next time */ }
    }
    if (pushed) window.location.reload();
  }

  function followStates() {
    document.querySelectorAll("[data-status-url]").forEach((cell) => {
      const poll = async (n) => {
        if (!["queued", "sending"].includes(cell.dataset.state) || n > 600) return;
        try {
          const response = await fetch(cell.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
          if (response.ok) {
            const state = await response.json();
            cell.dataset.state = state.state;
            cell.textContent = state.description;
            cell.className = cell.className.replace(/state-\w+/, `state-${state.state}`);
          }
        } catch (e) { /* try again */ }
        window.setTimeout(() => poll(n + 1), 1000);
      };
      poll(0);
    });
  }

  // -- Tab Template: the live preview ----------------------------------------------

  function setupTemplate(form) {
    const preview = form.querySelector("[data-template-preview]");
    const signature = form.querySelector("[data-preview-signature]");
    const family = form.elements.font_family;
    const size = form.elements.font_size;
    const color = form.elements.font_color;
    const editorRoot = form.querySelector("[data-editor]");
    let editor = null;
    const update = () => {
      const option = family.options[family.selectedIndex];
      const stack = option ? option.dataset.stack : "";
      preview.style.fontFamily = stack;
      preview.style.fontSize = `${size.value}pt`;
      preview.style.color = color.value;
      if (editor) {
        editor.body.style.fontFamily = stack;
        editor.body.style.fontSize = `${size.value}pt`;
        editor.body.style.color = color.value;
        // The same content the editor shows; the server cleans it when saved.
        signature.replaceChildren(...Array.from(editor.body.childNodes).map((n) => n.cloneNode(true)));
      }
    };
    if (editorRoot) editor = setupEditor(editorRoot, update);
    [family, size, color].forEach((el) => el.addEventListener("input", update));
    [family, size].forEach((el) => el.addEventListener("change", update));
    form.addEventListener("submit", () => { if (editor) editor.get(); });
    update();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-compose]").forEach(setupCompose);
    document.querySelectorAll("form[data-template-form]").forEach(setupTemplate);
    const outbox = document.querySelector("[data-outbox]");
    if (outbox) pushStoredDrafts(outbox);
    followStates();
  });
})();
