// The agent's chat panel (included in the console): waiting chats, joining one, replying,
// registering a ticket from the chat, ending it. Uses the page's session cookie.
(function () {
  "use strict";
  var root = document.getElementById("agent-chat");
  if (!root) { return; }
  var msg = root.dataset;
  var waitingList = document.getElementById("agent-chat-waiting");
  var statusLine = document.getElementById("agent-chat-status");
  var room = document.getElementById("agent-chat-room");
  var log = document.getElementById("agent-chat-log");
  var ticketLine = document.getElementById("agent-chat-ticket");
  var typingLine = document.getElementById("agent-chat-typing");
  var errorLine = document.getElementById("agent-chat-error");
  var sendForm = document.getElementById("agent-chat-send");
  var input = document.getElementById("agent-chat-text");
  var registerForm = document.getElementById("agent-chat-register");
  var endButton = document.getElementById("agent-chat-end");
  var maxLength = parseInt(msg.maxLength, 10);
  var socket = null;
  var current = null;  // id of the chat shown in the room
  var retryDelay = 1000;
  var typingTimer = null;
  var typingSent = false;
  var seen = {};

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function add(sender, text, id) {
    if (id && seen[id]) { return; }
    if (id) { seen[id] = true; }
    var li = document.createElement("li");
    li.className = sender === "agent" ? "mine" : sender;
    if (sender !== "system") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = sender === "agent" ? msg.msgYou : msg.msgCitizen;
      li.appendChild(who);
    }
    li.appendChild(document.createTextNode(text));
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function showWaiting(sessions) {
    waitingList.textContent = "";
    if (!sessions.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = msg.msgWaitingNone;
      waitingList.appendChild(empty);
      return;
    }
    sessions.forEach(function (s) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = (s.citizen_name || msg.msgAnonymous) + " · " + s.created_at.slice(11, 16) + (s.ticket ? " · " + s.ticket : "");
      var join = document.createElement("button");
      join.type = "button";
      join.textContent = msg.msgJoin;
      join.addEventListener("click", function () { send({ type: "join", session: s.id }); });
      li.appendChild(label);
      li.appendChild(join);
      waitingList.appendChild(li);
    });
  }

  function showTicket(number) { ticketLine.textContent = number ? msg.msgTicket + number : msg.msgNoTicket; }

  function open(frame) {
    current = frame.session.id;
    seen = {};
    log.textContent = "";
    room.hidden = false;
    input.disabled = false;
    endButton.disabled = false;
    showTicket(frame.session.ticket);
    frame.messages.forEach(function (m) { add(m.sender, m.text, m.id); });
  }

  function handle(frame) {
    if (frame.session !== undefined && typeof frame.session === "number" && current !== null && frame.session !== current && frame.type !== "error") { return; }
    switch (frame.type) {
      case "waiting": showWaiting(frame.sessions); break;
      case "joined": open(frame); break;
      case "message": add(frame.sender, frame.text, frame.id); if (frame.sender === "citizen") { typingLine.hidden = true; } break;
      case "typing": typingLine.textContent = msg.msgTyping; typingLine.hidden = !frame.active; break;
      case "presence": if (frame.who === "citizen") { statusLine.textContent = frame.state === "online" ? msg.msgOnline : msg.msgOffline; } break;
      case "ticket": case "registered": showTicket(frame.number); break;
      case "closed": add("system", msg.msgClosed); input.disabled = true; endButton.disabled = true; break;
      case "error": errorLine.textContent = frame.message; break;
    }
  }

  function connect() {
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + msg.wsPath);
    socket.onopen = function () {
      retryDelay = 1000;
      statusLine.textContent = "";
      if (current !== null) { send({ type: "join", session: current }); }
    };
    socket.onmessage = function (event) { handle(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) { root.hidden = true; return; }
      statusLine.textContent = msg.msgDisconnected;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { errorLine.textContent = msg.msgEmpty; return; }
    if (text.length > maxLength) { errorLine.textContent = msg.msgTooLong; return; }
    if (send({ type: "message", session: current, text: text })) {
      input.value = "";
      errorLine.textContent = "";
      send({ type: "typing", session: current, active: false });
      typingSent = false;
    }
  });

  input.addEventListener("input", function () {
    if (!typingSent) { typingSent = send({ type: "typing", session: current, active: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { send({ type: "typing", session: current, active: false }); typingSent = false; }, 3000);
  });

  registerForm.addEventListener("submit", function (event) {
    event.preventDefault();
    send({
      type: "register",
      session: current,
      ticket_type: document.getElementById("agent-chat-type").value,
      description: document.getElementById("agent-chat-description").value
    });
  });

  endButton.addEventListener("click", function () { send({ type: "end", session: current }); });

  connect();
})();
