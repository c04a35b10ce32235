// The agent console: screen pop, cascading category and area pickers, knowledge suggestions
// while the description is typed, and registering a ticket that is either resolved at first
// contact or left for dispatch — without leaving the page.
(function () {
  "use strict";
  var H = window.Hotline;
  var form = document.getElementById("register-form");
  if (!form || !H) { return; }
  var fmsg = form.dataset;

  function readJSON(id) {
    var el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : []; } catch (e) { return []; }
  }

  function newToken() {
    if (window.crypto && crypto.getRandomValues) {
      var bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  // --- cascading pickers over a tree [{id, name, children}] ------------------------------
  function cascade(selects, tree) {
    function fill(level, nodes) {
      var select = selects[level];
      select.textContent = "";
      var blank = document.createElement("option");
      blank.value = "";
      blank.textContent = "—";
      select.appendChild(blank);
      (nodes || []).forEach(function (node) {
        var option = document.createElement("option");
        option.value = String(node.id);
        option.textContent = node.name;
        select.appendChild(option);
      });
      select.disabled = !(nodes && nodes.length);
      for (var next = level + 1; next < selects.length; next++) {
        selects[next].textContent = "";
        selects[next].disabled = true;
      }
    }
    function children(level) {
      var nodes = tree;
      for (var i = 0; i < level; i++) {
        var id = selects[i].value;
        var node = nodes.filter(function (n) { return String(n.id) === id; })[0];
        if (!node) { return []; }
        nodes = node.children;
      }
      return nodes;
    }
    selects.forEach(function (select, level) {
      select.addEventListener("change", function () {
        if (level + 1 < selects.length) { fill(level + 1, children(level + 1)); }
      });
    });
    fill(0, tree);
    return {
      value: function () {
        for (var i = selects.length - 1; i >= 0; i--) {
          if (selects[i].value) { return parseInt(selects[i].value, 10); }
        }
        return null;
      },
      set: function (ids) {
        fill(0, tree);
        ids.forEach(function (id, level) {
          if (level >= selects.length) { return; }
          selects[level].value = String(id);
          if (level + 1 < selects.length) { fill(level + 1, children(level + 1)); }
        });
      },
      reset: function () { fill(0, tree); }
    };
  }

  var categoryTree = readJSON("category-tree");
  var areaTree = readJSON("area-tree");
  var categories = cascade([document.getElementById("cat-1"), document.getElementById("cat-2"), document.getElementById("cat-3")], categoryTree);
  var areas = cascade([document.getElementById("area-1"), document.getElementById("area-2"), document.getElementById("area-3")], areaTree);

  // The category search: every node as "A › B › C" in a datalist; picking one sets the cascade.
  var paths = {};
  (function walk(nodes, trail) {
    nodes.forEach(function (node) {
      var ids = trail.ids.concat([node.id]);
      var label = trail.names.concat([node.name]).join(" › ");
      paths[label] = ids;
      walk(node.children || [], { ids: ids, names: trail.names.concat([node.name]) });
    });
  })(categoryTree, { ids: [], names: [] });
  var datalist = document.getElementById("cat-options");
  Object.keys(paths).forEach(function (label) {
    var option = document.createElement("option");
    option.value = label;
    datalist.appendChild(option);
  });
  var search = document.getElementById("cat-search");
  search.addEventListener("change", function () {
    var ids = paths[search.value.trim()];
    if (ids) { categories.set(ids); }
  });

  // --- the classifier's proposal while the agent types (debounced) ----------------------------
  var proposalBox = document.getElementById("category-proposal");
  var proposalText = document.getElementById("proposal-text");
  var proposalIds = null;
  var proposalSequence = 0;
  var lastClassified = null;
  var proposalTimer = null;
  function classify() {
    var text = document.getElementById("reg-description").value.trim();
    var titleInput = document.getElementById("reg-title");
    var title = titleInput ? titleInput.value.trim() : "";
    if (text + "|" + title === lastClassified) { return; }
    lastClassified = text + "|" + title;
    var mine = ++proposalSequence;
    if (text.length < 6) { proposalBox.hidden = true; proposalIds = null; return; }
    H.api("POST", proposalBox.dataset.api, { text: text, title: title }).then(function (result) {
      if (mine !== proposalSequence) { return; }
      if (!result.ok || !result.data || !result.data.categories || !result.data.categories.length) {
        proposalBox.hidden = true;  // no model trained: the agent picks from the tree as before
        proposalIds = null;
        return;
      }
      var best = result.data.categories[0];
      proposalIds = paths[best.path_names.join(" › ")] || null;
      var line = proposalBox.dataset.msgProposal + "：" + best.path_names.join(" › ") + " " + Math.round(best.score * 100) + "%";
      if (result.data.terms && result.data.terms.length) { line += " · " + proposalBox.dataset.msgWords + "：" + result.data.terms.join("、"); }
      if (result.data.life_safety_cues && result.data.life_safety_cues.length) { line += " · " + proposalBox.dataset.msgSafety + "：" + result.data.life_safety_cues.join("、"); }
      proposalText.textContent = line;
      proposalBox.dataset.type = result.data.type || "";
      proposalBox.hidden = false;
    });
  }
  document.getElementById("proposal-accept").addEventListener("click", function () {
    if (proposalIds) { categories.set(proposalIds); }
    var typeSelect = document.getElementById("reg-type");
    if (proposalBox.dataset.type && typeSelect) { typeSelect.value = proposalBox.dataset.type; }
  });
  ["reg-description", "reg-title"].forEach(function (id) {
    var input = document.getElementById(id);
    if (!input) { return; }
    input.addEventListener("input", function () {
      clearTimeout(proposalTimer);
      proposalTimer = setTimeout(classify, 400);
    });
  });

  // --- repeats while the agent types: this caller's open tickets, other callers' about the same problem ---
  var repeatsBox = document.getElementById("repeats");
  var repeatsSequence = 0;
  var repeatsTimer = null;
  var lastRepeats = null;
  function repeatItem(r, label) {
    var li = document.createElement("li");
    var strong = document.createElement("strong");
    strong.textContent = label;
    var link = document.createElement("a");
    link.href = repeatsBox.dataset.ticketUrl.replace("NUMBER", encodeURIComponent(r.number));
    link.textContent = r.number;
    var rest = document.createElement("span");
    rest.textContent = " " + r.title + " · " + r.state_display + (r.same_place ? " · " + repeatsBox.dataset.msgPlace : "");
    li.appendChild(strong); li.appendChild(document.createTextNode(" ")); li.appendChild(link); li.appendChild(rest);
    return li;
  }
  function findRepeats() {
    var text = document.getElementById("reg-description").value.trim();
    var titleInput = document.getElementById("reg-title");
    var phoneInput = document.getElementById("reg-phone");
    var addressInput = document.getElementById("reg-address");
    var body = { text: text, title: titleInput ? titleInput.value.trim() : "", phone: phoneInput ? phoneInput.value.trim() : "", address: addressInput ? addressInput.value.trim() : "" };
    var key = JSON.stringify(body);
    if (key === lastRepeats) { return; }
    lastRepeats = key;
    var mine = ++repeatsSequence;
    if (text.length < 6) { repeatsBox.hidden = true; return; }
    H.api("POST", repeatsBox.dataset.api, body).then(function (result) {
      if (mine !== repeatsSequence) { return; }
      var same = document.getElementById("repeats-same");
      var similar = document.getElementById("repeats-similar");
      same.textContent = ""; similar.textContent = "";
      if (!result.ok || !result.data) { repeatsBox.hidden = true; return; }
      result.data.same_caller.forEach(function (r) {
        var label = r.days_ago === 0 ? repeatsBox.dataset.msgSameToday : repeatsBox.dataset.msgSame.replace("{days}", r.days_ago);
        same.appendChild(repeatItem(r, label));
      });
      result.data.similar.forEach(function (r) { similar.appendChild(repeatItem(r, repeatsBox.dataset.msgSimilar)); });
      repeatsBox.hidden = !(result.data.same_caller.length || result.data.similar.length);
    });
  }
  ["reg-description", "reg-title", "reg-phone", "reg-address"].forEach(function (id) {
    var input = document.getElementById(id);
    if (!input) { return; }
    input.addEventListener("input", function () {
      clearTimeout(repeatsTimer);
      repeatsTimer = setTimeout(findRepeats, 500);
    });
  });

  // --- knowledge suggestions --------------------------------------------------------------
  var panel = document.getElementById("suggestions");
  var smsg = panel.dataset;
  var statusLine = document.getElementById("suggest-status");
  var articleList = document.getElementById("suggest-articles");
  var ticketList = document.getElementById("suggest-tickets");
  var description = document.getElementById("reg-description");
  var answer = document.getElementById("reg-answer");
  var phoneInput = document.getElementById("reg-phone");
  var suggestTimer = null;
  var lastText = null;
  var sequence = 0;

  // Search highlights are HTML-escaped text with <em> around matches: rebuild them from
  // text nodes and <em> only, so nothing else in a snippet can become markup.
  function highlighted(html) {
    var out = document.createElement("span");
    var doc = new DOMParser().parseFromString("<body>" + (html || "") + "</body>", "text/html");
    (function copy(from, to) {
      Array.prototype.forEach.call(from.childNodes, function (node) {
        if (node.nodeType === 3) { to.appendChild(document.createTextNode(node.nodeValue)); }
        else if (node.nodeType === 1) {
          if (node.tagName === "EM") { var em = document.createElement("em"); copy(node, em); to.appendChild(em); }
          else { copy(node, to); }
        }
      });
    })(doc.body, out);
    return out;
  }

  function useAsAnswer(text) {
    answer.value = answer.value ? answer.value + "\n" + text : text;
    answer.focus();
  }

  function articleItem(a) {
    var li = document.createElement("li");
    li.className = "hit article";
    var title = document.createElement("strong");
    title.textContent = a.title;
    li.appendChild(title);
    if (a.stale) { var stale = document.createElement("span"); stale.className = "badge yellow"; stale.textContent = smsg.msgStale; li.appendChild(stale); }
    var meta = document.createElement("span");
    meta.className = "muted meta";
    meta.textContent = [a.category, a.department, a.valid_until ? smsg.msgValidUntil + " " + a.valid_until : ""].filter(Boolean).join(" · ");
    li.appendChild(meta);
    var snippet = highlighted(a.highlight);
    snippet.className = "snippet";
    li.appendChild(snippet);
    var use = document.createElement("button");
    use.type = "button";
    use.className = "secondary small";
    use.textContent = smsg.msgUse;
    use.addEventListener("click", function () {
      H.api("GET", "/api/v1/knowledge/articles/" + encodeURIComponent(a.id) + "/").then(function (result) {
        var text = snippet.textContent;
        if (result.ok && result.data && result.data.body_html) {
          text = new DOMParser().parseFromString(result.data.body_html, "text/html").body.textContent.trim();
        }
        useAsAnswer(a.title + "：" + text);
      });
    });
    li.appendChild(use);
    return li;
  }

  function ticketItem(t) {
    var li = document.createElement("li");
    li.className = "hit ticket";
    var link = document.createElement("a");
    link.href = "/tickets/" + encodeURIComponent(t.number) + "/";
    link.textContent = t.number;
    li.appendChild(link);
    li.appendChild(document.createTextNode(" " + (t.title || "")));
    var meta = document.createElement("span");
    meta.className = "muted meta";
    meta.textContent = [t.category, t.department].filter(Boolean).join(" · ");
    li.appendChild(meta);
    if (t.answer) {
      var ans = document.createElement("p");
      ans.className = "snippet pre";
      ans.textContent = t.answer;
      li.appendChild(ans);
      var use = document.createElement("button");
      use.type = "button";
      use.className = "secondary small";
      use.textContent = smsg.msgUse;
      use.addEventListener("click", function () { useAsAnswer(t.answer); });
      li.appendChild(use);
    }
    return li;
  }

  function suggest() {
    var text = description.value.trim();
    if (text === lastText) { return; }
    lastText = text;
    var mine = ++sequence;
    if (text.length < 2) {
      articleList.textContent = "";
      ticketList.textContent = "";
      statusLine.textContent = smsg.msgEmpty;
      panel.dataset.state = "empty";
      return;
    }
    panel.setAttribute("aria-busy", "true");
    H.api("POST", panel.dataset.api, { text: text, phone: phoneInput.value.trim() }).then(function (result) {
      if (mine !== sequence) { return; }  // a newer request is on its way
      panel.setAttribute("aria-busy", "false");
      articleList.textContent = "";
      ticketList.textContent = "";
      if (!result.ok || !result.data) {
        statusLine.textContent = smsg.msgUnavailable;
        panel.dataset.state = "unavailable";
        lastText = null;  // try again on the next keystroke
        return;
      }
      var articles = result.data.articles || [];
      var similar = result.data.similar_tickets || [];
      articles.forEach(function (a) { articleList.appendChild(articleItem(a)); });
      similar.forEach(function (t) { ticketList.appendChild(ticketItem(t)); });
      statusLine.textContent = articles.length || similar.length ? "" : smsg.msgNone;
      panel.dataset.state = articles.length || similar.length ? "results" : "none";
    });
  }

  description.addEventListener("input", function () {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, 500);
    suggestLine();
  });

  // --- 移交: the line whose keywords the description matches is suggested (a hint, never a decision) ---
  var lineSelect = document.getElementById("reg-line");
  var lineHint = document.getElementById("line-suggestion");
  var lineTouched = false;
  if (lineSelect) { lineSelect.addEventListener("change", function () { lineTouched = true; }); }

  function suggestLine() {
    if (!lineSelect) { return; }
    var text = description.value;
    var best = null, bestHits = 0;
    Array.prototype.forEach.call(lineSelect.options, function (option) {
      var hits = (option.dataset.keywords || "").split(/[\s,，、]+/).filter(function (k) { return k && text.indexOf(k) !== -1; }).length;
      if (hits > bestHits) { best = option; bestHits = hits; }
    });
    lineHint.hidden = !best;
    lineHint.textContent = best ? lineHint.dataset.msg + "：" + best.textContent : "";
    if (best && !lineTouched) { lineSelect.value = best.value; }
  }

  // --- screen pop ---------------------------------------------------------------------------
  var pop = document.getElementById("screen-pop");
  var lastPop = null;
  H.onLive(function (data) {
    if (data.type !== "screen_pop") { return; }
    lastPop = data;
    document.getElementById("pop-caller").textContent = data.caller || "—";
    var citizen = data.citizen;
    document.getElementById("pop-citizen").textContent = citizen ? (citizen.name || "—") : pop.dataset.msgUnknown;
    document.getElementById("pop-count").textContent = citizen ? pop.dataset.msgTickets + " " + (citizen.ticket_count || 0) : "";
    var list = document.getElementById("pop-recent");
    list.textContent = "";
    (data.recent_tickets || []).forEach(function (t) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/tickets/" + encodeURIComponent(t.number) + "/";
      link.textContent = t.number;
      li.appendChild(link);
      li.appendChild(document.createTextNode(" " + (t.title || "") + " · " + (t.state_label || t.state || "")));
      list.appendChild(li);
    });
    pop.hidden = false;
    pop.classList.add("ringing");
    document.getElementById("pop-use").focus();
  });
  document.getElementById("pop-use").addEventListener("click", function () {
    if (!lastPop) { return; }
    document.getElementById("reg-channel").value = "phone";
    phoneInput.value = lastPop.caller || "";
    if (lastPop.citizen && lastPop.citizen.name) { document.getElementById("reg-name").value = lastPop.citizen.name; }
    document.getElementById("reg-call-sid").value = lastPop.call_sid || "";
    pop.classList.remove("ringing");
    description.focus();
  });
  document.getElementById("pop-dismiss").addEventListener("click", function () { pop.hidden = true; pop.classList.remove("ringing"); });

  // --- registration -----------------------------------------------------------------------------
  var errorBox = document.getElementById("register-error");
  var resultBox = document.getElementById("register-result");

  function showResult(prefix, ticket) {
    resultBox.textContent = prefix + " ";
    var link = document.createElement("a");
    link.href = "/tickets/" + encodeURIComponent(ticket.number) + "/";
    link.textContent = ticket.number;
    link.id = "registered-number";
    resultBox.appendChild(link);
    resultBox.appendChild(document.createTextNode(" · " + (ticket.state_display || ticket.state)));
  }

  function registrationBody(finish) {
    var callSid = document.getElementById("reg-call-sid").value;
    return {
      // Answered or transferred at once: no automatic rule may dispatch it in between.
      auto_dispatch: finish === "dispatch",
      channel: document.getElementById("reg-channel").value,
      type: document.getElementById("reg-type").value,
      urgency: document.getElementById("reg-urgency").value,
      life_safety: document.getElementById("reg-life-safety").checked,
      category: categories.value(),
      area: areas.value(),
      description: description.value,
      address: document.getElementById("reg-address").value,
      citizen: {
        name: document.getElementById("reg-name").value,
        phone: phoneInput.value,
        anonymous: document.getElementById("reg-anonymous").checked
      },
      confidential: document.getElementById("reg-confidential").checked,
      // One token per filled-in form: a double click or a retry returns the same ticket.
      channel_ref: ("console:" + (callSid ? callSid + ":" : "") + form.dataset.token).slice(0, 128)
    };
  }

  function clearForm() {
    form.reset();
    categories.reset();
    areas.reset();
    document.getElementById("reg-call-sid").value = "";
    form.dataset.token = newToken();
    lastText = null;
    lineTouched = false;
    if (lineHint) { lineHint.hidden = true; }
  }

  form.addEventListener("reset", function () {
    setTimeout(function () { categories.reset(); areas.reset(); errorBox.textContent = ""; }, 0);
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var chosen = ev.submitter ? ev.submitter.value : "";
    var finish = chosen === "resolve" || chosen === "transfer" ? chosen : "dispatch";
    var transferReason = document.getElementById("reg-transfer-reason");
    errorBox.textContent = "";
    resultBox.textContent = "";
    if (!description.value.trim()) { description.setAttribute("aria-invalid", "true"); description.focus(); }
    if (finish === "resolve" && !answer.value.trim()) { errorBox.textContent = fmsg.msgNeedAnswer; answer.focus(); return; }
    if (finish === "transfer" && !transferReason.value.trim()) { errorBox.textContent = fmsg.msgNeedTransferReason; transferReason.focus(); return; }
    var transferBody = finish === "transfer" ? {
      line: lineSelect.value, reason: transferReason.value, reference: document.getElementById("reg-transfer-reference").value
    } : null;
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var answerText = answer.value;
    H.api("POST", form.dataset.api, registrationBody(finish)).then(function (created) {
      if (!created.ok) { return created; }
      if (finish === "dispatch") { return created; }
      var step = finish === "transfer" ? ["/transfer/", transferBody] : ["/resolve/", { answer: answerText }];
      return H.api("POST", "/api/v1/tickets/" + encodeURIComponent(created.data.number) + step[0], step[1]).then(function (resolved) {
        if (!resolved.ok) { resolved.created = created.data; }
        return resolved;
      });
    }).then(function (result) {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      if (!result.ok) {
        errorBox.textContent = result.error;
        if (result.created) { showResult(fmsg.msgRegistered, result.created); clearForm(); }
        return;
      }
      description.removeAttribute("aria-invalid");
      var ticket = result.data;
      showResult(finish === "resolve" ? fmsg.msgResolved : finish === "transfer" ? fmsg.msgTransferred : (ticket.state === "registered" ? fmsg.msgDispatched : fmsg.msgRegistered), ticket);
      H.toast(resultBox.textContent);
      clearForm();
    });
  });
})();
