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
    cc: "Constant Contact segment_criteria: build it with the form, or write its JSON {\"version\":\"1.0.0\",\"criteria\":{…}} below.",
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

  // ---- the Constant Contact criteria form ----
  // It builds segment_criteria field by field (docs/constantcontact-criteria.md).
  // The JSON in the editor stays the one source: every change in the form
  // rewrites it, and every edit of the JSON redraws the form, or says why
  // the form cannot show it (the JSON is then left as it is).

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const LEAF_KEYS = ["source", "field", "op", "const_value", "param", "const_date_value", "date_param"];
  const KINDS = [["contact", "Contact field"], ["custom", "Custom field"], ["list_membership", "List membership"], ["tags", "Tag"], ["tracking", "Email activity"]];
  const OP_LABELS = {
    eq: "is", ne: "is not", contains: "contains", "not-contains": "does not contain", "starts-with": "starts with", "ends-with": "ends with",
    gt: "is greater than", gte: "is at least", lt: "is less than", lte: "is at most", before: "is before", after: "is after", on: "is on",
    "in-last-n-days": "is in the last N days", "is-empty": "is empty", "is-not-empty": "is not empty",
  };
  const TRACKING_LABELS = {
    sent: "was sent", delivered: "was delivered", opened: "opened", not_opened: "did not open", clicked: "clicked", not_clicked: "did not click",
    bounced: "bounced", unsubscribed: "unsubscribed from", spam_reported: "reported as spam",
  };
  const CAMPAIGNS = [["campaigns", "any campaign"], ["last-n-campaigns", "the last N campaigns"], ["campaign-ids", "campaigns by id"]];
  const WINDOWS = [["", "at any time"], ["last-n-days", "in the last N days"], ["between-dates", "between two dates"]];

  function criteriaForm(box, text, changed) {
    const note = $("cc-form-note"), body = $("cc-form-body");
    let opts = null, doc = null, problem = null;

    function say(msg) {
      note.textContent = msg;
    }

    async function load() {
      let r;
      try {
        r = await fetch("/console/api/criteria-form", { headers: headers() });
      } catch (e) {
        say("The form could not load the account's fields, lists and tags: " + e.message + ". Edit the criteria as JSON.");
        return;
      }
      const out = await r.json().catch(() => null);
      if (!r.ok) {
        say("The form is not available: " + firstError(out) + ". Edit the criteria as JSON.");
        return;
      }
      opts = out;
      fromText();
    }

    const customByID = (id) => opts.custom_fields.find((f) => f.id === id.toLowerCase());
    const contactField = (name) => opts.contact_fields.find((f) => f.name === name);

    // kindOf is the form's kind of a condition: a source, or "custom" for
    // a contact condition on a custom field named by its id.
    function kindOf(c) {
      return c.source === "contact" && c.field === "custom_field" && "param" in c ? "custom" : c.source;
    }
    function typeOf(c) {
      const f = kindOf(c) === "custom" ? customByID(c.param) : contactField(c.field);
      return f ? f.type : "text";
    }

    // unshowable says why the form cannot show a condition or group, at
    // its path, or returns "".
    function unshowable(x, path) {
      if (!x || typeof x !== "object" || Array.isArray(x)) return path + " is not an object";
      if ("type" in x || "group" in x) {
        if (Object.keys(x).some((k) => k !== "type" && k !== "group")) return path + " has a key the form does not know";
        if (x.type !== "and" && x.type !== "or") return path + ".type is neither and nor or";
        if (!Array.isArray(x.group)) return path + ".group is not a list";
        for (let i = 0; i < x.group.length; i++) {
          const why = unshowable(x.group[i], path + ".group[" + i + "]");
          if (why) return why;
        }
        return "";
      }
      for (const k of Object.keys(x)) {
        if (!LEAF_KEYS.includes(k)) return path + "." + k + " is not a key of a condition";
        if (typeof x[k] !== "string") return path + "." + k + " is not a string";
      }
      const has = (...keys) => Object.keys(x).sort().join() === ["source", "field", "op", ...keys].sort().join();
      switch (kindOf(x)) {
        case "contact": {
          const f = contactField(x.field);
          if (!f) return path + ".field " + JSON.stringify(x.field) + " is not one of the form's contact fields";
          return contactOperands(x, f.type, has, path, []);
        }
        case "custom": {
          if (!customByID(x.param)) return path + ".param " + JSON.stringify(x.param) + " is not the id of one of the account's custom fields";
          return contactOperands(x, customByID(x.param).type, has, path, ["param"]);
        }
        case "list_membership":
        case "tags":
          if (x.field !== (x.source === "tags" ? "tag_id" : "list_id")) return path + ".field " + JSON.stringify(x.field) + " is not the form's";
          if (x.op !== "contains-any" && x.op !== "contains-none") return path + ".op " + JSON.stringify(x.op) + " is not the form's";
          return has("const_value") ? "" : path + " has keys its operator does not take";
        case "tracking": {
          if (!opts.tracking_fields.includes(x.field)) return path + ".field " + JSON.stringify(x.field) + " is not one of the form's activities";
          if (x.op !== "contains-any" && x.op !== "contains-none") return path + ".op " + JSON.stringify(x.op) + " is not the form's";
          if (!CAMPAIGNS.some((c) => c[0] === x.const_value)) return path + ".const_value " + JSON.stringify(x.const_value) + " is not the form's";
          if (x.const_date_value !== undefined && !WINDOWS.some((w) => w[0] && w[0] === x.const_date_value)) return path + ".const_date_value is not the form's";
          const keys = x.const_value === "campaigns" ? ["const_value"] : ["const_value", "param"];
          if (x.const_date_value !== undefined) keys.push("const_date_value", "date_param");
          return has(...keys) ? "" : path + " has keys the form does not show";
        }
      }
      return path + ".source " + JSON.stringify(x.source) + " is not one the form knows";
    }

    function contactOperands(x, type, has, path, extra) {
      if (!opts.operators[type].includes(x.op)) return path + ".op " + JSON.stringify(x.op) + " does not apply to a " + type + " field";
      const operand = x.op === "is-empty" || x.op === "is-not-empty" ? [] : x.op === "in-last-n-days" ? ["date_param"] : ["const_value"];
      return has(...extra, ...operand) ? "" : path + " has keys its operator does not take";
    }

    // fromText redraws the form from the JSON.
    function fromText() {
      if (!opts) return;
      const src = text();
      if (!src.trim()) {
        doc = { version: "1.0.0", criteria: { type: "and", group: [] } };
        draw();
        return;
      }
      let d;
      try {
        d = JSON.parse(src);
      } catch (e) {
        return hide("The JSON below does not parse, so the form cannot show it; it shows the criteria again once the JSON is whole.");
      }
      let why = "";
      if (!d || typeof d !== "object" || Array.isArray(d)) why = "the document is not an object";
      else if (Object.keys(d).sort().join() !== "criteria,version" || d.version !== "1.0.0") why = "the document is not {\"version\":\"1.0.0\",\"criteria\":…}";
      else why = unshowable(d.criteria, "criteria");
      if (!why && !("type" in d.criteria)) why = "criteria is not a group";
      if (why) return hide("The form cannot show these criteria: " + why + ". Edit them as JSON below (empty the JSON to start the form afresh).");
      doc = d;
      draw();
    }

    function hide(msg) {
      doc = null;
      say(msg);
      body.replaceChildren();
    }

    // write puts the form's criteria into the JSON, one condition a line.
    function write() {
      const cond = (c) => {
        const o = {};
        // A custom field's id reads best beside the field it names.
        const order = c.field === "custom_field" ? ["source", "field", "param", "op", "const_value"] : LEAF_KEYS;
        for (const k of order) if (c[k] !== undefined) o[k] = c[k];
        return JSON.stringify(o);
      };
      const group = (g, ind) => '{"type":' + JSON.stringify(g.type) + ',"group":[' +
        g.group.map((x) => "\n" + ind + ("type" in x ? group(x, ind + "  ") : cond(x))).join(",") + "]}";
      return '{"version":"1.0.0","criteria":' + group(doc.criteria, "  ") + "}";
    }

    // edit applies a change made in the form: the JSON follows, the count
    // is asked for as after a keystroke, and, when the change alters
    // which controls show, the form is redrawn with the focus kept.
    function edit(redraw, focusID) {
      changed(write());
      if (!redraw) return;
      const keep = focusID || (document.activeElement && document.activeElement.id);
      problem = null; // the next count's answer says where a problem is now
      draw();
      const el = keep && $(keep);
      if (el) el.focus();
    }

    const idOf = (path) => "cc-" + path.replace(/\.group\[(\d+)\]/g, "-$1");
    // the item at a path such as criteria.group[1].group[0]
    function at(path) {
      let x = doc.criteria;
      for (const m of path.matchAll(/\.group\[(\d+)\]/g)) x = x && x.group && x.group[+m[1]];
      return x;
    }

    function control(tag, id, label, value, choices) {
      const wrap = document.createElement("span");
      wrap.className = "cc-ctl";
      const l = document.createElement("label");
      l.htmlFor = id;
      l.textContent = label;
      const el = document.createElement(tag);
      el.id = id;
      if (tag === "input") {
        el.type = "text";
        el.autocomplete = "off";
        el.spellcheck = false;
        // Enter in a condition's value does not save the segment (the
        // count already follows the value); the Save button does.
        el.addEventListener("keydown", (e) => {
          if (e.key === "Enter") e.preventDefault();
        });
      }
      for (const [v, t] of choices || []) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = t;
        el.append(o);
      }
      el.value = value;
      wrap.append(l, el);
      return [wrap, el];
    }

    // draw builds the form from doc.
    function draw() {
      say(doc.criteria.group.length ? "" : "Add a condition to start, or write the criteria as JSON below.");
      body.replaceChildren(drawGroup(doc.criteria, "criteria", 1));
      if (problem) showProblem(problem.path, problem.message);
    }

    function drawGroup(g, path, depth) {
      const id = idOf(path), fs = document.createElement("fieldset");
      fs.className = "cc-group";
      fs.id = id;
      const legend = document.createElement("legend");
      legend.textContent = depth === 1 ? "Contacts in the segment" : "Group " + path.replace(/^criteria/, "").replace(/\.group\[(\d+)\]/g, (_, n) => "." + (+n + 1)).slice(1);
      fs.append(legend);
      const [typeWrap, type] = control("select", id + "-type", "They match", g.type, [["and", "all of these conditions (and)"], ["or", "any of these conditions (or)"]]);
      type.addEventListener("change", () => {
        g.type = type.value;
        edit(false);
      });
      const ol = document.createElement("ol");
      ol.className = "cc-items";
      g.group.forEach((x, i) => {
        const li = document.createElement("li");
        const p = path + ".group[" + i + "]";
        li.append("type" in x ? drawGroup(x, p, depth + 1) : drawCondition(x, p, g, i));
        ol.append(li);
      });
      const bar = document.createElement("p");
      bar.className = "cc-bar";
      const add = button(id + "-add", "Add condition", null, () => {
        g.group.push(fresh("contact"));
        edit(true, idOf(path + ".group[" + (g.group.length - 1) + "]") + "-kind");
      });
      const addGroup = button(id + "-addgroup", "Add group", null, () => {
        g.group.push({ type: "or", group: [fresh("contact")] });
        edit(true, idOf(path + ".group[" + (g.group.length - 1) + "]") + "-type");
      });
      bar.append(add, " ", addGroup);
      if (depth > 1) {
        bar.append(" ", button(id + "-remove", "Remove group", "Remove " + legend.textContent.toLowerCase(), () => removeAt(path)));
      }
      fs.append(typeWrap, ol, problemNode(id), bar);
      return fs;
    }

    function button(id, label, aria, onclick) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = id;
      b.className = "secondary";
      b.textContent = label;
      if (aria) b.setAttribute("aria-label", aria);
      b.addEventListener("click", onclick);
      return b;
    }

    function problemNode(id) {
      const p = document.createElement("p");
      p.className = "problem cc-problem";
      p.id = id + "-problem";
      return p;
    }

    function removeAt(path) {
      const m = /^(.*)\.group\[(\d+)\]$/.exec(path);
      const parent = at(m[1]);
      parent.group.splice(+m[2], 1);
      edit(true, idOf(m[1]) + "-add");
    }

    // fresh is a new condition of a kind, with the form's first choices.
    function fresh(kind) {
      switch (kind) {
        case "custom": {
          const f = opts.custom_fields[0];
          return { source: "contact", field: "custom_field", param: f.id, op: opts.operators[f.type][0], const_value: "" };
        }
        case "list_membership":
          return { source: "list_membership", field: "list_id", op: "contains-any", const_value: opts.lists.length ? opts.lists[0].id : "" };
        case "tags":
          return { source: "tags", field: "tag_id", op: "contains-any", const_value: opts.tags.length ? opts.tags[0].id : "" };
        case "tracking":
          return { source: "tracking", field: "opened", op: "contains-any", const_value: "last-n-campaigns", param: "5" };
      }
      return { source: "contact", field: "email_address", op: "eq", const_value: "" };
    }

    // operands gives a contact condition the keys its operator takes.
    function operands(c) {
      if (c.op === "is-empty" || c.op === "is-not-empty") {
        delete c.const_value;
        delete c.date_param;
      } else if (c.op === "in-last-n-days") {
        delete c.const_value;
        if (c.date_param === undefined) c.date_param = "30";
      } else {
        delete c.date_param;
        if (c.const_value === undefined) c.const_value = "";
      }
    }

    function drawCondition(c, path, parent, index) {
      const id = idOf(path), fs = document.createElement("fieldset");
      fs.className = "cc-cond";
      fs.id = id;
      const legend = document.createElement("legend");
      legend.className = "visually-hidden";
      legend.textContent = "Condition " + path.replace(/^criteria/, "").replace(/\.group\[(\d+)\]/g, (_, n) => "." + (+n + 1)).slice(1);
      const row = document.createElement("div");
      row.className = "cc-row";
      const kind = kindOf(c);
      const [kindWrap, kindSel] = control("select", id + "-kind", "Condition on", kind, KINDS);
      if (!opts.custom_fields.length) kindSel.querySelector('option[value="custom"]').disabled = true;
      kindSel.addEventListener("change", () => {
        parent.group[index] = fresh(kindSel.value);
        edit(true);
      });
      row.append(kindWrap);
      const add = ([wrap, el]) => {
        row.append(wrap);
        return el;
      };
      // input binds a text control to a key of the condition.
      const input = (key, label, hint) => {
        const el = add(control("input", id + "-" + key, label, c[key] || ""));
        if (hint) el.placeholder = hint;
        el.addEventListener("input", () => {
          c[key] = el.value;
          edit(false);
        });
        return el;
      };
      const select = (key, label, choices, after) => {
        const el = add(control("select", id + "-" + key, label, c[key], choices));
        // Ids are compared ignoring case, as the server compares them.
        const same = [...el.options].find((o) => o.value.toLowerCase() === (c[key] || "").toLowerCase());
        if (same) el.value = same.value;
        else {
          // An id of no list or tag of the account: kept, and shown as such.
          const o = document.createElement("option");
          o.value = c[key];
          o.textContent = c[key] ? "unknown id " + c[key].slice(0, 8) + "…" : "(none)";
          el.prepend(o);
          el.value = c[key];
        }
        el.addEventListener("change", () => {
          c[key] = el.value;
          if (after) after();
          edit(!!after);
        });
        return el;
      };
      switch (kind) {
        case "contact":
        case "custom": {
          if (kind === "custom") {
            select("param", "Custom field", opts.custom_fields.map((f) => [f.id, f.name]), () => {
              if (!opts.operators[typeOf(c)].includes(c.op)) c.op = opts.operators[typeOf(c)][0];
              operands(c);
            });
          } else {
            select("field", "Field", opts.contact_fields.map((f) => [f.name, f.name]), () => {
              if (!opts.operators[typeOf(c)].includes(c.op)) c.op = opts.operators[typeOf(c)][0];
              operands(c);
            });
          }
          const type = typeOf(c);
          select("op", "Operator", opts.operators[type].map((o) => [o, OP_LABELS[o] || o]), () => operands(c));
          if (c.op === "in-last-n-days") input("date_param", "Days", "30").inputMode = "numeric";
          else if (c.const_value !== undefined) {
            const v = input("const_value", "Value", type === "date" ? "YYYY-MM-DD" : type === "number" ? "a number" : "");
            if (type === "number") v.inputMode = "decimal";
          }
          break;
        }
        case "list_membership":
          select("op", "Contact is", [["contains-any", "on the list"], ["contains-none", "not on the list"]]);
          select("const_value", "List", opts.lists.map((l) => [l.id, l.name]));
          break;
        case "tags":
          select("op", "Contact", [["contains-any", "has the tag"], ["contains-none", "does not have the tag"]]);
          select("const_value", "Tag", opts.tags.map((t) => [t.id, t.name]));
          break;
        case "tracking":
          select("field", "Contact", opts.tracking_fields.map((f) => [f, TRACKING_LABELS[f] || f]));
          select("op", "Of", [["contains-any", "at least one of"], ["contains-none", "none of"]]);
          select("const_value", "Campaigns", CAMPAIGNS, () => {
            if (c.const_value === "campaigns") delete c.param;
            else c.param = c.const_value === "last-n-campaigns" ? "5" : "";
          });
          if (c.const_value === "last-n-campaigns") input("param", "N campaigns", "5").inputMode = "numeric";
          if (c.const_value === "campaign-ids") input("param", "Campaign ids", "id1,id2");
          {
            const [w, win] = control("select", id + "-const_date_value", "When", c.const_date_value || "", WINDOWS);
            win.addEventListener("change", () => {
              if (!win.value) {
                delete c.const_date_value;
                delete c.date_param;
              } else {
                c.const_date_value = win.value;
                c.date_param = win.value === "last-n-days" ? "30" : "";
              }
              edit(true);
            });
            row.append(w);
          }
          if (c.const_date_value === "last-n-days") input("date_param", "Days", "30").inputMode = "numeric";
          if (c.const_date_value === "between-dates") {
            const [from, to] = (c.date_param || "").split(/,(.*)/s);
            const a = add(control("input", id + "-date_param", "From (YYYY-MM-DD)", from || ""));
            const b = add(control("input", id + "-date_param_to", "To (YYYY-MM-DD)", to || ""));
            for (const el of [a, b]) {
              el.addEventListener("input", () => {
                c.date_param = a.value + "," + b.value;
                edit(false);
              });
            }
          }
          break;
      }
      const remove = button(id + "-remove", "Remove", "Remove " + legend.textContent.toLowerCase(), () => removeAt(path));
      row.append(remove);
      fs.append(legend, row, problemNode(id));
      return fs;
    }

    // showProblem puts a check error next to the condition or group its
    // JSON path names, and flags the control of the key it names.
    function showProblem(path, message) {
      problem = { path: path, message: message };
      if (!doc || !path) return;
      const m = /^(criteria(?:\.group\[\d+\])*)(?:\.(\w+))?/.exec(path);
      if (!m) return;
      let itemPath = m[1], key = m[2];
      while (itemPath !== "criteria" && !at(itemPath)) itemPath = itemPath.replace(/\.group\[\d+\]$/, "");
      const id = idOf(itemPath), p = $(id + "-problem");
      if (!p) return;
      p.textContent = message;
      if (key === "field" && at(itemPath).field === "custom_field") key = "param";
      const el = key && $(id + "-" + key);
      if (el) {
        el.setAttribute("aria-invalid", "true");
        el.setAttribute("aria-describedby", p.id);
      }
    }

    function clearProblem() {
      problem = null;
      for (const p of body.querySelectorAll(".cc-problem")) p.textContent = "";
      for (const el of body.querySelectorAll("[aria-invalid]")) {
        el.removeAttribute("aria-invalid");
        el.removeAttribute("aria-describedby");
      }
    }

    return {
      show(on) {
        box.hidden = !on;
        if (on && !opts) load();
        else if (on) fromText();
      },
      fromText: fromText,
      problem(path, message) {
        clearProblem();
        showProblem(path, message);
      },
      clear: clearProblem,
    };
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

    function help() {
      $("seg-help").textContent = HELP[lang.value] || "";
      $("seg-query-label").textContent = lang.value === "cc" ? "Criteria (JSON)" : "Query";
    }
    help();

    // The criteria form writes the JSON and asks for the count as a
    // keystroke in the JSON would.
    const cc = criteriaForm($("cc-form"), () => query.value, (json) => {
      query.value = json;
      lastKey = performance.now();
      mirror(json, -1);
      schedule(DEBOUNCE_MS);
    });

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
      cc.clear();
      errorP.textContent = "";
      query.removeAttribute("aria-invalid");
      delete root.dataset.errorLine;
      delete root.dataset.errorColumn;
      mirror(query.value, -1);
    }

    function markError(p) {
      errorP.textContent = p.message;
      // A criteria error names its JSON path (a refused save's message
      // starts with it): the form shows it beside its condition.
      if (lang.value === "cc") cc.problem(p.path || (/(?:^|: )((?:criteria|version)[\w.[\]]*): /.exec(p.message) || [])[1], p.message);
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
      if (lang.value === "cc") cc.fromText();
      suggest();
      schedule(DEBOUNCE_MS);
    });
    query.addEventListener("blur", closeList);
    query.addEventListener("scroll", () => { backdrop.scrollTop = query.scrollTop; });
    lang.addEventListener("change", () => {
      help();
      cc.show(lang.value === "cc");
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
    cc.show(lang.value === "cc");
    if (query.value.trim()) schedule(0);
  }

  render(false);
})();
