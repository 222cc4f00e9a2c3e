// roamsync's pages work without this script; with it they are live and quicker to fill.
// No library: the server renders, this script only asks it again.
//
// 1. References: typing in a reference field lists matching records (/suggest/MODULE).
// 2. "Take theirs" on a field the server found changed underneath puts the other value in.
// 3. Live pages:
// A page with data-live-module on <body> opens /events; on a change it fetches itself
// and swaps in the parts marked data-live. On a record's form, a field the user has not
// touched takes the new value; a field the user has changed keeps theirs and says what
// the other value is, with "Take theirs" and "Keep mine". A note is never replaced:
// saving merges the user's edit with the other one (the server applies it as a diff).
(function () {
  "use strict";
  for (const input of document.querySelectorAll("input[data-suggest]")) suggestions(input);
  for (const take of document.querySelectorAll("button[data-take]")) {
    take.addEventListener("click", function () {
      const input = document.getElementById("f-" + take.dataset.field);
      input.value = take.dataset.take;
      take.parentElement.hidden = true;
      input.focus();
    });
  }

  function suggestions(input) {
    const list = document.getElementById(input.getAttribute("list"));
    let timer = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(async function () {
        const q = input.value.trim();
        if (!q) return;
        const url = "/suggest/" + encodeURIComponent(input.dataset.suggest) + "?q=" + encodeURIComponent(q);
        const response = await fetch(url, { credentials: "same-origin" });
        if (!response.ok) return;
        list.replaceChildren();
        for (const row of await response.json()) {
          const option = document.createElement("option");
          option.value = row.id;
          option.label = row.label;
          option.textContent = row.label;
          list.append(option);
        }
      }, 150);
    });
  }
})();

(function () {
  "use strict";
  const body = document.body;
  const module = body.dataset.liveModule;
  if (!module || !window.EventSource) return;
  const record = body.dataset.liveRecord || "";
  const status = document.getElementById("live");
  let url = "/events?module=" + encodeURIComponent(module);
  if (record) url += "&record=" + encodeURIComponent(record);
  const source = new EventSource(url);
  let busy = false;
  let again = false;

  source.addEventListener("change", refresh);
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) location.reload(); // the session is over
  };

  function say(text) {
    if (status) status.textContent = text;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && again) { again = false; refresh(); }
  });

  async function refresh() {
    if (busy || document.hidden) { again = true; return; }  // a hidden tab asks later
    busy = true;
    try {
      const response = await fetch(location.href, {
        headers: { "X-Roamsync-Live": "1" }, credentials: "same-origin", redirect: "manual",
      });
      if (response.type === "opaqueredirect") { location.reload(); return; }
      if (response.status === 404) { say("This record was deleted on another device."); return; }
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of document.querySelectorAll("[data-live]")) {
        const other = fresh.getElementById(part.id);
        if (other) part.replaceWith(document.importNode(other, true));
      }
      for (const input of document.querySelectorAll("[data-base]")) update(input, fresh);
      say("Updated " + new Date().toLocaleTimeString() + ".");
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  function update(input, fresh) {
    const other = fresh.getElementById(input.id);
    if (!other || other.dataset.base === undefined) return;
    const theirs = other.dataset.base;
    const base = input.dataset.base;
    if (theirs === base) return;
    const kept = document.getElementById("b-" + input.name);
    const warning = document.getElementById("w-" + input.name);
    if (input.value === base) {            // untouched here: show the new value
      input.value = theirs;
      input.dataset.base = theirs;
      if (kept) kept.value = theirs;
      return;
    }
    if (input.tagName === "TEXTAREA") {    // a note: both edits are kept on save
      warning.hidden = false;
      warning.textContent = "Someone else changed this note; saving keeps both changes.";
      return;
    }
    warning.hidden = false;
    warning.textContent = "";
    const text = document.createElement("span");
    text.textContent = "Changed on another device to “" + theirs + "” since you opened this form. ";
    const take = button("Take theirs", function () { input.value = theirs; });
    const keep = button("Keep mine", function () {});
    warning.append(text, take, keep);
    function button(label, then) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", function () {
        then();
        input.dataset.base = theirs;       // decided: saving now writes what the field shows
        if (kept) kept.value = theirs;
        warning.hidden = true;
        input.focus();
      });
      return b;
    }
  }
})();
