// The chat: join through the server's admission check, then a WebSocket that reconnects with
// backoff; the form to send shows once joined and says why Send is off while disconnected.

import { $, api, appendLine, backoff, seconds } from "./shared.js";

export const chat = {
  socket: null,
  session: 0, // each join or reconnect; events of an older one are ignored
  room: "",
  user: "",
  name: "", // the name the server uses (it cleans names: "" or invisible ones are "anonymous")
  joined: false,
  attempt: 0,
  timer: 0,
};
const CHAT_LINES = 500;

function chatLine(text, system) {
  const item = document.createElement("li");
  item.textContent = text;
  if (system) item.className = "system";
  appendLine($("#chat-log"), item, CHAT_LINES);
}

function setChatStatus(text) {
  $("#chat-status").textContent = text;
}

export function chatConnected() {
  return chat.socket !== null && chat.socket.readyState === WebSocket.OPEN;
}

function updateSend() {
  const open = chatConnected();
  $("#say").hidden = !chat.joined;
  $("#say button[type=submit]").disabled = !open;
  const hint = $("#say-hint");
  hint.textContent = open ? "" : "Not connected: you can send again once the chat reconnects.";
  hint.hidden = open;
}

function stopChat() {
  clearTimeout(chat.timer);
  chat.session += 1;
  if (chat.socket) chat.socket.close(1000);
  chat.socket = null;
}

function chatQuery() {
  // With JWT sign-in on (CHAT_JWT_SECRET), open the page as /?token=... to pass a token on.
  const token = new URLSearchParams(location.search).get("token");
  return `?user=${encodeURIComponent(chat.user)}` +
    (token ? `&token=${encodeURIComponent(token)}` : "");
}

function reconnectChat(why) {
  const delay = backoff(chat.attempt++);
  setChatStatus(`${why} Reconnecting in ${seconds(delay)} s…`);
  updateSend();
  const session = chat.session;
  chat.timer = setTimeout(() => {
    if (session === chat.session) connectChat(true);
  }, delay);
}

export async function connectChat(reconnecting) {
  stopChat();
  const session = chat.session;
  setChatStatus(reconnecting ? "Reconnecting to the chat…" : `Joining ${chat.room}…`);
  const room = encodeURIComponent(chat.room);
  // The browser hides why a handshake fails; the server's admission check says it first.
  let admitted;
  try {
    admitted = await api("GET", `/chat/${room}/admission${chatQuery()}`);
  } catch (error) {
    if (session !== chat.session) return;
    if (error.retryable) {
      reconnectChat(`Could not reach the chat: ${error.message}.`);
    } else {
      chat.joined = false;
      setChatStatus(`The server refused to let you join: ${error.message}.`);
      updateSend();
    }
    return;
  }
  if (session !== chat.session) return;
  chat.name = admitted.user;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/chat/${room}${chatQuery()}`);
  chat.socket = ws;
  const connected = () => `Connected to ${chat.room} as ${chat.name}.`;
  let typingTimer = 0;
  ws.addEventListener("open", () => {
    if (session !== chat.session) return;
    chat.attempt = 0;
    chat.joined = true;
    if (reconnecting) chatLine("Reconnected.", true);
    setChatStatus(connected());
    updateSend();
  });
  ws.addEventListener("close", (event) => {
    if (session !== chat.session) return;
    chat.socket = null;
    // 1013 "try again later" (its backend, e.g. Redis, is down), 1001 the server restarts,
    // 1006 no close frame at all (the server or the network went away): retry them all.
    const why = event.code === 1013
      ? `The chat is unavailable for now${event.reason ? ` (${event.reason})` : ""}.`
      : "Lost the connection to the chat.";
    reconnectChat(why);
  });
  ws.addEventListener("message", (message) => {
    if (session !== chat.session) return;
    const data = JSON.parse(message.data);
    if (data.type === "chat") chatLine(`${data.user}: ${data.message}`, false);
    else if (data.type === "user_joined") chatLine(`${data.user} joined (${data.user_count} here)`, true);
    else if (data.type === "user_left") chatLine(`${data.user} left (${data.user_count} here)`, true);
    else if (data.type === "typing") {
      setChatStatus(`${data.user} is typing…`);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        if (session === chat.session && chatConnected()) setChatStatus(connected());
      }, 3000);
    } else if (data.error) chatLine(`error: ${data.error}`, true);
  });
}

$("#join").addEventListener("submit", (event) => {
  event.preventDefault();
  chat.user = $("#chat-user").value;
  chat.room = $("#chat-room").value;
  chat.joined = false;
  chat.attempt = 0;
  $("#chat-log").replaceChildren();
  updateSend();
  connectChat(false);
});

$("#say").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#chat-message");
  if (!chatConnected()) return; // Send is disabled then; the hint says why
  chat.socket.send(JSON.stringify({ type: "chat", message: input.value }));
  input.value = "";
});

let lastTyping = 0;
$("#chat-message").addEventListener("input", () => {
  const now = Date.now();
  if (chatConnected() && now - lastTyping > 2000) {
    lastTyping = now;
    chat.socket.send(JSON.stringify({ type: "typing" }));
  }
});
