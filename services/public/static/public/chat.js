// The citizen's chat widget: start a chat, talk over ws/chat/<token>/, reconnect after a drop.
// Every text is shown with textContent, never as HTML.
(function () {
  "use strict";
  var root = document.getElementById("chat-widget");
  if (!root) { return; }
  var msg = root.dataset;
  var STORAGE_KEY = "hotline.chat.token";
  var startForm = document.getElementById("chat-start");
  var room = document.getElementById("chat-room");
  var log = document.getElementById("chat-log");
  var statusLine = document.getElementById("chat-status");
  var typingLine = document.getElementById("chat-typing");
  var errorLine = document.getElementById("chat-error");
  var sendForm = document.getElementById("chat-send");
  var input = document.getElementById("chat-text");
  var endButton = document.getElementById("chat-end");
  var maxLength = parseInt(msg.maxLength, 10);
  var socket = null;
  var closed = false;
  var retryDelay = 1000;
  var typingTimer = null;
  var typingSent = false;
  var seen = {};

  function wsUrl(token) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/" + encodeURIComponent(token) + "/";
  }

  function add(sender, text, id) {
    if (id && seen[id]) { return; }
    if (id) { seen[id] = true; }
    var li = document.createElement("li");
    li.className = sender === "citizen" ? "mine" : sender;
    if (sender !== "system") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = sender === "citizen" ? msg.msgYou : msg.msgAgent;
      li.appendChild(who);
    }
    li.appendChild(document.createTextNode(text));
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function showTicket(number) { add("system", msg.msgTicket + number); }

  function finish() {
    closed = true;
    sessionStorage.removeItem(STORAGE_KEY);
    statusLine.textContent = msg.msgClosed;
    input.disabled = true;
    endButton.disabled = true;
  }

  function handle(frame) {
    switch (frame.type) {
      case "history":
        statusLine.textContent = frame.session.status === "waiting" ? msg.msgWaiting : "";
        frame.messages.forEach(function (m) { add(m.sender, m.text, m.id); });
        if (frame.session.ticket) { statusLine.textContent = msg.msgTicket + frame.session.ticket; }
        if (frame.session.status === "closed") { finish(); }
        break;
      case "message":
        add(frame.sender, frame.text, frame.id);
        if (frame.sender === "agent") { typingLine.hidden = true; }
        break;
      case "typing":
        typingLine.textContent = msg.msgTyping;
        typingLine.hidden = !frame.active;
        break;
      case "presence":
        if (frame.who === "agent") { add("system", frame.state === "online" ? msg.msgAgentJoined : msg.msgAgentLeft); }
        break;
      case "ticket":
        showTicket(frame.number);
        break;
      case "closed":
        add("system", msg.msgClosed);
        finish();
        break;
      case "error":
        errorLine.textContent = frame.message;
        break;
    }
  }

  function connect(token) {
    startForm.hidden = true;
    room.hidden = false;
    socket = new WebSocket(wsUrl(token));
    socket.onopen = function () { retryDelay = 1000; errorLine.textContent = ""; };
    socket.onmessage = function (event) { handle(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (event.code === 4404) { sessionStorage.removeItem(STORAGE_KEY); startForm.hidden = false; room.hidden = true; return; }
      if (closed) { return; }
      statusLine.textContent = msg.msgDisconnected;
      setTimeout(function () { connect(token); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  startForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(startForm);
    fetch(msg.startUrl, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": data.get("csrfmiddlewaretoken") } })
      .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
      .then(function (result) {
        if (!result.ok) { errorLine.textContent = (result.body.error && result.body.error.message) || msg.msgStartFailed; room.hidden = false; return; }
        sessionStorage.setItem(STORAGE_KEY, result.body.token);
        connect(result.body.token);
      })
      .catch(function () { errorLine.textContent = msg.msgStartFailed; room.hidden = false; });
  });

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { errorLine.textContent = msg.msgEmpty; return; }
    if (text.length > maxLength) { errorLine.textContent = msg.msgTooLong; return; }
    if (send({ type: "message", text: text })) {
      input.value = "";
      errorLine.textContent = "";
      send({ type: "typing", active: false });
      typingSent = false;
    }
  });

  input.addEventListener("input", function () {
    if (!typingSent) { typingSent = send({ type: "typing", active: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { send({ type: "typing", active: false }); typingSent = false; }, 3000);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); sendForm.requestSubmit(); }
  });

  endButton.addEventListener("click", function () { send({ type: "end" }); });

  var saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) { connect(saved); }
})();
