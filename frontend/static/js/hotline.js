// Shared behaviour of the staff pages: JSON calls to the API with the CSRF token,
// action forms, the logged contact reveal, fragments that reload after an action or a
// live update (WebSocket /ws/notifications/), and a small status toast.
// Text from the server is always set with textContent; fragments are HTML rendered and
// escaped by Django templates.
(function () {
  "use strict";
  var msg = document.body.dataset;
  var liveHandlers = [];
  var pending = {};      // region id → true when a live refresh waits for the user to finish typing
  var fresh = {};        // ticket numbers changed since the last refresh, highlighted once

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function errorText(status, data) {
    if (data && data.error) {
      var text = data.error.message || msg.msgFailed;
      var details = data.error.details;
      if (details && typeof details === "object") {
        var parts = [];
        Object.keys(details).forEach(function (key) {
          var v = details[key];
          if (Array.isArray(v)) { v = v.join(" "); } else if (v && typeof v === "object") { v = JSON.stringify(v); }
          parts.push(key + ": " + v);
        });
        if (parts.length) { text += "（" + parts.join("；") + "）"; }
      }
      return text;
    }
    if (data && data.detail) { return String(data.detail); }
    return msg.msgFailed + " (" + status + ")";
  }

  // → Promise of {ok, status, data, error}; never rejects.
  function api(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: resp.ok, status: resp.status, data: data, error: resp.ok ? "" : errorText(resp.status, data) };
      });
    }, function () {
      return { ok: false, status: 0, data: null, error: msg.msgNetwork };
    });
  }

  var toastTimer = null;
  function toast(text, isError) {
    var box = document.getElementById("toast");
    if (!box) { return; }
    box.textContent = text;
    box.className = "toast" + (isError ? " error" : "");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, isError ? 8000 : 4000);
  }

  // A form's fields as a JSON body, typed by each input's data-type (text, int, bool, list).
  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "button" || el.type === "reset") { return; }
      var type = el.dataset.type || "text";
      if (type === "list") {
        body[el.name] = Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; });
      } else if (el.type === "checkbox") {
        body[el.name] = el.checked;
      } else if (type === "bool") {
        body[el.name] = el.value === "" ? null : el.value === "true";
      } else if (type === "int") {
        body[el.name] = el.value === "" ? null : parseInt(el.value, 10);
      } else {
        body[el.name] = el.value;
      }
    });
    return body;
  }

  // --- fragments -----------------------------------------------------------------
  function detailsKey(details) {
    var card = details.closest("[data-number]");
    return (card ? card.dataset.number : "") + "|" + (details.dataset.action || details.className);
  }

  function isBusy(region) {
    // Someone is typing in a form of this region: a live refresh would wipe it.
    if (region.dataset.dirty === "1") { return true; }
    var active = document.activeElement;
    return !!(active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
  }

  function refresh(region, force) {
    if (!region || !region.dataset.src) { return Promise.resolve(); }
    if (!force && isBusy(region)) {
      pending[region.id] = true;
      showPending(region);
      return Promise.resolve();
    }
    return fetch(region.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (resp) { if (!resp.ok) { throw new Error(String(resp.status)); } return resp.text(); })
      .then(function (html) {
        var open = Array.prototype.map.call(region.querySelectorAll("details[open]"), detailsKey);
        region.innerHTML = html;
        region.dataset.dirty = "";
        delete pending[region.id];
        Array.prototype.forEach.call(region.querySelectorAll("details"), function (d) {
          if (open.indexOf(detailsKey(d)) >= 0) { d.open = true; }
        });
        Object.keys(fresh).forEach(function (number) {
          Array.prototype.forEach.call(region.querySelectorAll('[data-number="' + CSS.escape(number) + '"]'), function (el) {
            el.classList.add("fresh");
          });
        });
        region.dispatchEvent(new CustomEvent("hotline:refreshed", { bubbles: true }));
      })
      .catch(function () { /* the next live message or poll tries again */ });
  }

  function showPending(region) {
    var bar = region.previousElementSibling;
    if (bar && bar.classList.contains("pending-bar")) { return; }
    bar = document.createElement("p");
    bar.className = "pending-bar";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = msg.msgUpdated;
    button.addEventListener("click", function () { bar.remove(); refresh(region, true); });
    bar.appendChild(button);
    region.parentNode.insertBefore(bar, region);
  }

  function refreshAfterAction(form) {
    var region = form.closest("[data-src]");
    if (region) { return refresh(region, true); }
    if (form.closest("[data-live-ticket]")) { window.location.reload(); }
    return Promise.resolve();
  }

  // --- action forms (data-api) and the contact reveal (data-reveal) ----------------
  function setBusy(form, busy) {
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = busy; });
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function showError(form, text) {
    var box = form.querySelector(".form-error");
    if (box) { box.textContent = text; } else { toast(text, true); }
  }

  function submitAction(form) {
    if (!form.checkValidity()) { form.reportValidity(); return; }
    showError(form, "");
    setBusy(form, true);
    api("POST", form.dataset.api, formBody(form)).then(function (result) {
      setBusy(form, false);
      if (!result.ok) { showError(form, result.error); toast(result.error, true); return; }
      var label = form.querySelector("button[type=submit]");
      toast((label ? label.textContent.replace(/^.*：/, "") + " · " : "") + msg.msgDone);
      if (result.data && result.data.number) { fresh[result.data.number] = true; }
      refreshAfterAction(form);
    });
  }

  function reveal(form) {
    if (!form.checkValidity()) { form.reportValidity(); return; }
    setBusy(form, true);
    api("POST", form.dataset.reveal, formBody(form)).then(function (result) {
      setBusy(form, false);
      if (!result.ok) { showError(form, result.error); return; }
      var box = form.closest("[data-contact]");
      var value = box.querySelector("[data-contact-value]");
      if (!value) {
        value = document.createElement("span");
        value.setAttribute("data-contact-value", "");
        box.insertBefore(value, form.closest("details"));
      }
      value.textContent = (result.data.name || "—") + " · " + (result.data.phone || "—");
      value.classList.add("revealed");
      form.closest("details").remove();
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset.api && !form.hasAttribute("data-custom")) { ev.preventDefault(); submitAction(form); }
    else if (form.dataset.reveal) { ev.preventDefault(); reveal(form); }
  });

  document.addEventListener("input", function (ev) {
    var region = ev.target.closest && ev.target.closest("[data-src]");
    if (region) { region.dataset.dirty = "1"; }
  });

  // --- live updates ------------------------------------------------------------------
  var socket = null;
  var retryDelay = 1000;
  var refreshTimer = null;

  function setLive(on) {
    var status = document.getElementById("live-status");
    if (!status) { return; }
    status.hidden = false;
    status.textContent = on ? msg.msgLiveOn : msg.msgLiveOff;
    status.className = "live-status " + (on ? "on" : "off");
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-live][data-src]"), function (region) { refresh(region, false); });
    }, 300);
  }

  function onMessage(data) {
    if (data.type === "ticket.changed") {
      if (data.number) { fresh[data.number] = true; }
      scheduleRefresh();
      var page = document.querySelector("[data-live-ticket]");
      if (page && page.dataset.liveTicket === data.number && !isBusy(page)) { window.location.reload(); }
    }
    liveHandlers.forEach(function (fn) { try { fn(data); } catch (e) { /* one handler's bug must not stop the others */ } });
  }

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/notifications/";
    socket = new WebSocket(url);
    socket.addEventListener("open", function () { retryDelay = 1000; setLive(true); document.body.dataset.live = "on"; });
    socket.addEventListener("message", function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(data);
    });
    socket.addEventListener("close", function (ev) {
      document.body.dataset.live = "off";
      setLive(false);
      if (ev.code === 4401) { return; }  // signed out: nothing to listen to
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  function onLive(fn) { liveHandlers.push(fn); }

  function start() {
    if (document.getElementById("live-status") && (document.querySelector("[data-live]") || document.querySelector("[data-live-ticket]") || document.querySelector("[data-live-socket]"))) {
      connect();
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll][data-src]"), function (region) {
      var seconds = parseInt(region.dataset.poll, 10);
      if (seconds > 0) { setInterval(function () { refresh(region, false); }, seconds * 1000); }
    });
  }

  window.Hotline = { api: api, toast: toast, formBody: formBody, refresh: refresh, onLive: onLive, csrf: csrf };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

// The department's draft reply, checked while it is written (debounced): relevance, completeness,
// the missing parts and the phrases to look at, from POST /api/v1/replies/assess/.
(function () {
  "use strict";
  var H = window.Hotline;
  if (!H) { return; }
  var DELAY = 700;
  var timers = new WeakMap();
  var serial = 0;

  function percent(value) { return Math.round(value * 100) + "%"; }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function render(panel, data) {
    var box = panel.querySelector(".reply-check-result");
    var labels = panel.dataset;
    box.textContent = "";
    var scores = element("p", "reply-scores");
    [["relevance", labels.labelRelevance], ["completeness", labels.labelCompleteness]].forEach(function (pair) {
      var value = data[pair[0]];
      var badge = element("span", "score " + (value >= 0.7 ? "good" : value >= 0.5 ? "fair" : "poor"), pair[1] + " " + percent(value));
      badge.dataset.score = pair[0];
      scores.appendChild(badge);
      scores.appendChild(document.createTextNode(" "));
    });
    if (data.flagged) { scores.appendChild(element("strong", "flag", labels.labelFlagged)); }
    box.appendChild(scores);
    var parts = element("ul", "reply-elements");
    data.elements.forEach(function (e) {
      var li = element("li", e.found ? "found" : "missing", (e.found ? "✓ " : "✗ ") + e.label);
      li.dataset.element = e.key;
      parts.appendChild(li);
    });
    box.appendChild(parts);
    var findings = data.findings.filter(function (f) { return f.code.indexOf("missing_") !== 0 || f.code === "missing_place"; });
    if (findings.length) {
      var list = element("ul", "reply-findings");
      findings.forEach(function (f) {
        var li = element("li", "finding " + f.severity, f.message);
        li.dataset.code = f.code;
        list.appendChild(li);
      });
      box.appendChild(list);
    } else if (!data.flagged) {
      box.appendChild(element("p", "muted", labels.labelOk));
    }
    box.hidden = false;
  }

  function check(form) {
    var panel = form.querySelector(".reply-check");
    var text = form.querySelector('[name="text"]');
    if (!panel || !text) { return; }
    if (!text.value.trim()) { panel.querySelector(".reply-check-result").hidden = true; return; }
    var basis = form.querySelector('[name="basis"]');
    var mine = ++serial;
    panel.dataset.state = "checking";
    H.api("POST", panel.dataset.assess, { ticket: panel.dataset.ticket, reply: text.value, basis: basis ? basis.value : "" }).then(function (result) {
      if (mine !== serial) { return; }  // a newer draft is being checked
      panel.dataset.state = result.ok ? "done" : "failed";
      if (result.ok) { render(panel, result.data); }
    });
  }

  document.addEventListener("input", function (ev) {
    var form = ev.target.closest && ev.target.closest('form[data-action="reply"]');
    if (!form || !form.querySelector(".reply-check")) { return; }
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(function () { check(form); }, DELAY));
  });
})();

// The wallboard's clock.
(function () {
  "use strict";
  var clock = document.getElementById("wall-clock");
  if (!clock) { return; }
  function tick() { clock.textContent = new Date().toLocaleString(document.documentElement.lang || undefined, { hour12: false }); }
  tick();
  setInterval(tick, 1000);
})();

// The language switch submits on change (no inline handler: the Content-Security-Policy forbids them).
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
