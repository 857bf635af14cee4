// The demo page: plain JavaScript, no build step. Talks to the tasks JSON API, the chat
// WebSocket and the live SSE feed served by the same aaf app.
"use strict";

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------- tasks
async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    throw new Error((data && data.error) || `HTTP ${response.status}`);
  }
  return data;
}

function showError(error) {
  const box = $("#tasks-error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function renderTask(task) {
  const item = document.createElement("li");
  item.dataset.id = task.id;
  item.className = task.done ? "done" : "";
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.checked = task.done;
  toggle.setAttribute("aria-label", `done: ${task.title}`);
  toggle.addEventListener("change", () =>
    api("PATCH", `/tasks/${task.id}`, { done: toggle.checked }).then(upsertTask, showError));
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = task.title; // textContent: never HTML from the server
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.addEventListener("click", () =>
    api("DELETE", `/tasks/${task.id}`).then((t) => removeTask(t.id), showError));
  item.append(toggle, title, remove);
  return item;
}

function upsertTask(task) {
  const list = $("#tasks");
  const fresh = renderTask(task);
  const existing = list.querySelector(`li[data-id="${CSS.escape(task.id)}"]`);
  if (existing) existing.replaceWith(fresh);
  else list.append(fresh);
}

function removeTask(id) {
  const existing = $("#tasks").querySelector(`li[data-id="${CSS.escape(id)}"]`);
  if (existing) existing.remove();
}

// Every task, page by page: GET /tasks answers {items, next} with at most 200 tasks a page;
// `next` is the cursor of the following page (null on the last). Cursors follow creation
// order, so tasks created meanwhile land on a later page instead of shifting this one.
async function fetchAllTasks() {
  const tasks = [];
  let cursor = null;
  do {
    const query = "?limit=200" + (cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`);
    const page = await api("GET", "/tasks" + query);
    tasks.push(...page.items);
    cursor = page.next;
  } while (cursor !== null);
  return tasks;
}

async function loadTasks() {
  try {
    const tasks = await fetchAllTasks();
    $("#tasks").replaceChildren(...tasks.map(renderTask));
    showError(null);
  } catch (error) {
    showError(error);
  }
}

$("#new-task").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#new-task-title");
  try {
    upsertTask(await api("POST", "/tasks", { title: input.value, done: false }));
    input.value = "";
    showError(null);
  } catch (error) {
    showError(error);
  }
});

// ---------------------------------------------------------------- chat
let socket = null;

function chatLine(text, system) {
  const item = document.createElement("li");
  item.textContent = text;
  if (system) item.className = "system";
  $("#chat-log").append(item);
}

$("#join").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket) socket.close();
  const user = $("#chat-user").value;
  const room = $("#chat-room").value;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  // With JWT sign-in on (CHAT_JWT_SECRET), open the page as /?token=... to pass a token on.
  const token = new URLSearchParams(location.search).get("token");
  const url = `${scheme}://${location.host}/chat/${encodeURIComponent(room)}` +
    `?user=${encodeURIComponent(user)}` + (token ? `&token=${encodeURIComponent(token)}` : "");
  $("#chat-log").replaceChildren();
  const connected = `Connected to ${room} as ${user}.`;
  const ws = new WebSocket(url);
  socket = ws;
  // Events of a socket replaced by a later join must not touch the page any more.
  ws.addEventListener("open", () => {
    if (socket !== ws) return;
    $("#chat-status").textContent = connected;
    $("#say").hidden = false;
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    $("#chat-status").textContent = "Not connected.";
    $("#say").hidden = true;
  });
  let typingTimer = 0;
  ws.addEventListener("message", (message) => {
    if (socket !== ws) return;
    const data = JSON.parse(message.data);
    if (data.type === "chat") chatLine(`${data.user}: ${data.message}`, false);
    else if (data.type === "user_joined") chatLine(`${data.user} joined (${data.user_count} here)`, true);
    else if (data.type === "user_left") chatLine(`${data.user} left (${data.user_count} here)`, true);
    else if (data.type === "typing") {
      $("#chat-status").textContent = `${data.user} is typing…`;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        if (socket === ws) $("#chat-status").textContent = connected;
      }, 3000);
    } else if (data.error) chatLine(`error: ${data.error}`, true);
  });
});

$("#say").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#chat-message");
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "chat", message: input.value }));
    input.value = "";
  }
});

let lastTyping = 0;
$("#chat-message").addEventListener("input", () => {
  const now = Date.now();
  if (socket && socket.readyState === WebSocket.OPEN && now - lastTyping > 2000) {
    lastTyping = now;
    socket.send(JSON.stringify({ type: "typing" }));
  }
});

// ---------------------------------------------------------------- live feed
function watchFeed() {
  // EventSource reconnects by itself and sends Last-Event-ID, so no change is missed.
  const feed = new EventSource("/feed");
  // Load the list once the feed is open (and again after each reconnect): from then on no
  // change can slip between the snapshot and the stream.
  feed.addEventListener("open", () => {
    $("#feed-status").textContent = "Live.";
    loadTasks();
  });
  feed.addEventListener("error", () => { $("#feed-status").textContent = "Reconnecting…"; });
  // The server no longer has every change this page missed: start again from the API.
  feed.addEventListener("reset", () => loadTasks());
  for (const kind of ["created", "updated", "deleted"]) {
    feed.addEventListener(kind, (event) => {
      const task = JSON.parse(event.data);
      const item = document.createElement("li");
      item.dataset.eventId = event.lastEventId;
      item.textContent = `${kind}: ${task.title}${task.done ? " (done)" : ""}`;
      $("#feed").prepend(item);
      if (kind === "deleted") removeTask(task.id);
      else upsertTask(task);
    });
  }
}

watchFeed();
