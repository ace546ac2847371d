// segmentd console: sign-in, navigation and the segment editor.
// Plain JavaScript, no build step. The API key lives in sessionStorage
// only and travels as a Bearer token; everything on screen is either HTML
// rendered (and escaped) by the server, or text set with textContent.
"use strict";
(function () {
  const KEY = "segmentd.console.key";
  const SUBUSER = "segmentd.console.subuser";
  // The editor asks for a count this long after the last keystroke.
  const DEBOUNCE_MS = 40;

  const $ = (id) => document.getElementById(id);
  const view = $("view");
  const signin = $("signin");
  const signout = $("signout");

  function headers(extra) {
    const h = { Authorization: "Bearer " + (sessionStorage.getItem(KEY) || "") };
    const sub = sessionStorage.getItem(SUBUSER);
    if (sub) h["On-Behalf-Of"] = sub;
    return Object.assign(h, extra || {});
  }

  function showSignin(message) {
    view.replaceChildren();
    signin.hidden = false;
    signout.hidden = true;
    $("signin-error").textContent = message || "";
    document.title = "Sign in · segmentd console";
    $("signin-key").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(SUBUSER);
    showSignin(message);
  }

  // viewURL maps a console page's path to the fragment that fills it.
  function viewURL(path, search) {
    let p = path.replace(/^\/console\/?/, "").replace(/\/$/, "");
    if (p === "") p = "segments";
    if (p === "segments/new" || p === "segments/edit") p = "editor";
    return "/console/view/" + p + search;
  }

  let loads = 0;
  async function render(focus) {
    if (!sessionStorage.getItem(KEY)) {
      showSignin();
      return;
    }
    signin.hidden = true;
    signout.hidden = false;
    const mine = ++loads;
    let r;
    try {
      r = await fetch(viewURL(location.pathname, location.search), { headers: headers() });
    } catch (e) {
      view.textContent = "The server did not answer: " + e.message;
      return;
    }
    if (mine !== loads) return;
    if (r.status === 401) {
      signOut("The API key was not accepted. Give a key of the account.");
      return;
    }
    const html = await r.text();
    if (mine !== loads) return;
    view.innerHTML = html; // rendered and escaped by the server's html/template
    const h1 = view.querySelector("h1");
    document.title = (h1 ? h1.textContent + " · " : "") + "segmentd console";
    for (const a of document.querySelectorAll(".top nav a")) {
      const current = a.pathname === location.pathname || (location.pathname === "/console/" && a.pathname === "/console/segments");
      if (current) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const page = view.firstElementChild;
    if (page && page.dataset.page === "editor") editor(page);
    if (focus && h1) {
      h1.tabIndex = -1;
      h1.focus();
    }
  }

  function go(url) {
    history.pushState(null, "", url);
    render(true);
  }

  document.addEventListener("click", (e) => {
    const a = e.target.closest("a");
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target) return;
    if (a.origin !== location.origin || !a.pathname.startsWith("/console/") || a.pathname.startsWith("/console/static/")) return;
    e.preventDefault();
    go(a.href);
  });

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form.dataset.get) return;
    e.preventDefault();
    go(form.dataset.get + "?" + new URLSearchParams(new FormData(form)).toString());
  });

  window.addEventListener("popstate", () => render(true));

  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("signin-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    const sub = $("signin-subuser").value.trim();
    if (sub) sessionStorage.setItem(SUBUSER, sub);
    else sessionStorage.removeItem(SUBUSER);
    $("signin-key").value = "";
    render(true);
  });

  signout.addEventListener("click", () => signOut("Signed out."));

  // ---- the segment editor ----

  const HELP = {
    sql: "Segments 2.0 SQL: SELECT contact_id, updated_at FROM contact_data WHERE … (event_data for engagement).",
    sgql: "SGQL: a bare condition, such as country = 'US' AND CONTAINS(list_ids, '…').",
    cc: "Constant Contact segment_criteria JSON: {\"version\":\"1.0.0\",\"criteria\":{…}}.",
  };

  // problemOf reads the "line:column: " a query error starts with.
  function problemOf(message) {
    const m = /^(\d+):(\d+): /.exec(message);
    return { message: message, line: m ? +m[1] : 0, column: m ? +m[2] : 0 };
  }

  function firstError(body) {
    if (Array.isArray(body) && body.length) return body[0].error_message || JSON.stringify(body[0]);
    if (body && Array.isArray(body.errors) && body.errors.length) return body.errors[0].message;
    if (body && body.error_message) return body.error_message;
    return "the server refused the segment";
  }

  function editor(root) {
    const form = $("editor"), name = $("seg-name"), lang = $("seg-lang"), query = $("seg-query");
    const backdrop = $("seg-backdrop"), list = $("seg-complete"), errorP = $("seg-error");
    const count = $("seg-count"), took = $("seg-took"), sample = $("seg-sample"), saved = $("seg-saved");
    let timer = 0, seq = 0, inflight = null, lastKey = 0, words = [], lists = [], choices = [], active = -1;

    // segmentd's own API names what a query may use.
    fetch("/segmentd/v1/completions", { headers: headers() })
      .then((r) => (r.ok ? r.json() : null))
      .then((c) => {
        if (!c) return;
        for (const f of c.reserved_fields) words.push({ text: f.name, kind: f.type });
        for (const f of c.custom_fields) words.push({ text: f.name, kind: "custom " + f.type });
        for (const col of c.event_fields) words.push({ text: col, kind: "event_data" });
        for (const t of ["contact_data", "event_data"]) words.push({ text: t, kind: "table" });
        lists = c.lists;
      });

    function help() { $("seg-help").textContent = HELP[lang.value] || ""; }
    help();

    function mirror(text, at, end) {
      // The backdrop holds the same text, so that a <mark> in it sits
      // under the characters at fault.
      if (at < 0) {
        backdrop.replaceChildren(document.createTextNode(text + "\n"));
        return;
      }
      const mark = document.createElement("mark");
      mark.id = "seg-mark";
      mark.textContent = text.slice(at, end) || " ";
      backdrop.replaceChildren(document.createTextNode(text.slice(0, at)), mark, document.createTextNode(text.slice(end) + "\n"));
      backdrop.scrollTop = query.scrollTop;
    }

    function offsetOf(text, line, column) {
      let off = 0;
      for (let l = 1; l < line; l++) {
        const nl = text.indexOf("\n", off);
        if (nl < 0) return text.length;
        off = nl + 1;
      }
      return Math.min(off + Math.max(column - 1, 0), text.length);
    }

    function clearError() {
      errorP.textContent = "";
      query.removeAttribute("aria-invalid");
      delete root.dataset.errorLine;
      delete root.dataset.errorColumn;
      mirror(query.value, -1);
    }

    function markError(p) {
      errorP.textContent = p.message;
      query.setAttribute("aria-invalid", "true");
      root.dataset.errorLine = p.line;
      root.dataset.errorColumn = p.column;
      if (!p.line) {
        mirror(query.value, -1);
        return;
      }
      const text = query.value;
      const at = offsetOf(text, p.line, p.column);
      let end = at;
      while (end < text.length && /[\w.$'"]/.test(text[end])) end++;
      mirror(text, at, Math.max(end, at + 1));
    }

    function showSample(entries) {
      sample.replaceChildren(...entries.map((c) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/console/contacts/" + encodeURIComponent(c.id);
        a.textContent = c.email || c.id;
        li.append(a);
        if (c.name.trim()) li.append(" " + c.name.trim());
        return li;
      }));
    }

    async function preview() {
      const src = query.value;
      if (inflight) inflight.abort();
      const mine = ++seq;
      if (!src.trim()) {
        count.textContent = "—";
        took.textContent = "";
        showSample([]);
        clearError();
        return;
      }
      inflight = new AbortController();
      const asked = performance.now();
      let r, body;
      try {
        r = await fetch("/console/api/preview", {
          method: "POST",
          headers: headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ language: lang.value, query: src }),
          signal: inflight.signal,
        });
        body = await r.json();
      } catch (e) {
        if (e.name !== "AbortError" && mine === seq) errorP.textContent = "The server did not answer: " + e.message;
        return;
      }
      if (mine !== seq) return;
      const answered = performance.now();
      if (r.status === 401) {
        signOut("The API key was not accepted. Give a key of the account.");
        return;
      }
      if (!r.ok) {
        markError(problemOf(firstError(body)));
        count.textContent = "—";
      } else if (body.error) {
        markError(body.error);
        count.textContent = "—";
        showSample([]);
      } else {
        clearError();
        count.textContent = body.count.toLocaleString("en-US");
        showSample(body.sample);
      }
      took.textContent = body.error ? "" : "Counted by the server in " + body.took_ms + " ms.";
      // What the count on screen answers, and how long after the last
      // keystroke it was drawn (read by the browser tests and the bench).
      count.dataset.query = src;
      const typed = lastKey;
      requestAnimationFrame(() => {
        root.dataset.latencyMs = (performance.now() - typed).toFixed(1);
        root.dataset.tookMs = body.took_ms;
        root.dataset.latencyFor = src;
        root.dataset.askedAfterMs = (asked - typed).toFixed(1);
        root.dataset.answeredAfterMs = (answered - typed).toFixed(1);
      });
    }

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(preview, delay);
    }

    // ---- completion ----
    function closeList() {
      list.hidden = true;
      list.replaceChildren();
      query.setAttribute("aria-expanded", "false");
      query.removeAttribute("aria-activedescendant");
      choices = [];
      active = -1;
    }

    function suggest() {
      const before = query.value.slice(0, query.selectionStart);
      let replace = 0;
      choices = [];
      const inList = /list_ids?\b[^)\]]*?['"]([^'"]*)$/i.exec(before);
      if (inList) {
        const typed = inList[1].toLowerCase();
        replace = inList[1].length;
        choices = lists.filter((l) => l.name.toLowerCase().includes(typed) || l.id.startsWith(typed))
          .map((l) => ({ text: l.id, label: l.name, kind: "list" }));
      } else {
        const w = /[A-Za-z_][A-Za-z0-9_]*$/.exec(before);
        if (w && !/['"][^'"]*$/.test(before.replace(/'[^']*'|"[^"]*"/g, ""))) {
          const typed = w[0].toLowerCase();
          replace = w[0].length;
          choices = words.filter((c) => c.text.toLowerCase().startsWith(typed) && c.text.toLowerCase() !== typed)
            .map((c) => ({ text: c.text, label: c.text, kind: c.kind }));
        }
      }
      choices = choices.slice(0, 12);
      if (!choices.length) {
        closeList();
        return;
      }
      list.replaceChildren(...choices.map((c, i) => {
        const li = document.createElement("li");
        li.id = "seg-choice-" + i;
        li.setAttribute("role", "option");
        li.textContent = c.label;
        const kind = document.createElement("span");
        kind.className = "kind";
        kind.textContent = c.kind;
        li.append(kind);
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          accept(i);
        });
        return li;
      }));
      list.dataset.replace = replace;
      place(query.selectionStart - replace);
      list.hidden = false;
      query.setAttribute("aria-expanded", "true");
      select(0);
    }

    // place puts the completion list under the text at offset at, found
    // by measuring a marker at that offset in the backdrop's copy of the
    // text (which lays out exactly as the textarea does).
    function place(at) {
      const text = query.value, marker = document.createElement("span");
      marker.textContent = "\u200b";
      backdrop.replaceChildren(document.createTextNode(text.slice(0, at)), marker, document.createTextNode(text.slice(at) + "\n"));
      const left = Math.min(marker.offsetLeft, query.clientWidth - 200);
      const top = marker.offsetTop - query.scrollTop + marker.offsetHeight + 2;
      mirror(text, -1);
      list.style.left = Math.max(left, 0) + "px";
      list.style.top = Math.min(Math.max(top, 0), query.offsetHeight) + "px";
    }

    function select(i) {
      active = i;
      list.querySelectorAll("li").forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
      query.setAttribute("aria-activedescendant", "seg-choice-" + i);
      const li = $("seg-choice-" + i);
      if (li) li.scrollIntoView({ block: "nearest" });
    }

    function accept(i) {
      const c = choices[i];
      if (!c) return;
      const at = query.selectionStart, replace = +list.dataset.replace || 0;
      query.setRangeText(c.text, at - replace, at, "end");
      closeList();
      lastKey = performance.now();
      schedule(DEBOUNCE_MS);
    }

    query.addEventListener("keydown", (e) => {
      if (list.hidden) return;
      if (e.key === "ArrowDown") select((active + 1) % choices.length);
      else if (e.key === "ArrowUp") select((active - 1 + choices.length) % choices.length);
      else if (e.key === "Enter" || e.key === "Tab") accept(active);
      else if (e.key === "Escape") closeList();
      else return;
      e.preventDefault();
    });
    query.addEventListener("input", () => {
      lastKey = performance.now();
      mirror(query.value, -1);
      suggest();
      schedule(DEBOUNCE_MS);
    });
    query.addEventListener("blur", closeList);
    query.addEventListener("scroll", () => { backdrop.scrollTop = query.scrollTop; });
    lang.addEventListener("change", () => {
      help();
      lastKey = performance.now();
      schedule(0);
    });

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      saved.textContent = "";
      // The save's answer is what the editor shows now: a preview still
      // pending would overwrite it.
      clearTimeout(timer);
      if (inflight) inflight.abort();
      seq++;
      const vendor = root.dataset.vendor, id = root.dataset.id, l = lang.value;
      let method = "POST", url, body;
      if (l === "cc") {
        url = "/v3/segments" + (id ? "/" + encodeURIComponent(id) : "");
        if (id) method = "PUT";
        body = { name: name.value, segment_criteria: query.value };
      } else {
        url = (l === "sql" ? "/v3/marketing/segments/2.0" : "/v3/marketing/segments") + (id && vendor === "sg" ? "/" + encodeURIComponent(id) : "");
        if (id && vendor === "sg") method = "PATCH";
        body = { name: name.value, query_dsl: query.value };
      }
      let r, out;
      try {
        r = await fetch(url, { method: method, headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
        out = await r.json().catch(() => null);
      } catch (err) {
        errorP.textContent = "Not saved: the server did not answer: " + err.message;
        return;
      }
      if (r.status === 401) {
        signOut("The API key was not accepted. Give a key of the account.");
        return;
      }
      if (!r.ok) {
        const p = problemOf(firstError(out));
        p.message = "Not saved: " + p.message;
        if (l === "sgql" && (r.status === 404 || r.status === 405)) {
          p.message += ". SendGrid no longer creates or changes v1 (SGQL) segments: write the query in Segments 2.0 SQL, or start segmentd with --legacy-v1-writes.";
        }
        markError(p);
        return;
      }
      const newID = l === "cc" ? out.segment_id : out.id;
      go((l === "cc" ? "/console/segments/cc/" : "/console/segments/sg/") + encodeURIComponent(newID));
    });

    mirror(query.value, -1);
    if (query.value.trim()) schedule(0);
  }

  render(false);
})();
