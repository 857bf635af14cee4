// The demo page: plain JavaScript, no build step. Talks to the tasks JSON API, the chat
// WebSocket and the live SSE feed served by the same aaf app. Every state is shown as it is:
// loading, empty, saving, errors with a retry, reconnecting (with backoff) and refusals.
"use strict";

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------- shared helpers
// Retries after a failure wait about 0.5 s, 1 s, 2 s ... up to 10 s; the jitter keeps many
// pages from hitting a restarted server in the same instant.
function backoff(attempt) {
  const base = Math.min(10_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function seconds(ms) {
  return Math.max(1, Math.round(ms / 1000));
}

// Keeps the newest line of a scrolling list in view, unless the reader scrolled up.
function appendLine(list, item, limit) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  // PERF: a page left open for days keeps only the latest lines.
  while (list.children.length > limit) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

class ApiError extends Error {
  // `clause` completes "Could not <do something>: ..."; status 0 means no answer at all.
  constructor(clause, status) {
    super(clause);
    this.status = status;
  }
  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

async function api(method, path, body) {
  const options = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("the server cannot be reached (is it running? are you online?)", 0);
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const reason = data && typeof data.error === "string" ? data.error : null;
    const status = response.status;
    let clause = reason || `the server answered HTTP ${status}`;
    if (status === 503) clause = "the server is busy or restarting (HTTP 503)";
    else if (status >= 500) clause = `the server failed (HTTP ${status})`;
    throw new ApiError(clause, status);
  }
  return data;
}

// ---------------------------------------------------------------- tasks
const tasksState = { loaded: false, loading: 0, saving: 0, retry: null, errorFrom: null };

function updateTasksStatus() {
  const status = $("#tasks-status");
  let text = "";
  if (tasksState.saving > 0) text = "Saving…";
  else if (tasksState.loading > 0 && !tasksState.loaded) text = "Loading tasks…";
  else if (tasksState.loaded && $("#tasks").children.length === 0) {
    text = "No tasks yet. Add the first one above.";
  }
  status.textContent = text;
  status.hidden = text === "";
}

function showError(what, error, retry, from) {
  const box = $("#tasks-error");
  box.querySelector(".message").textContent = `Could not ${what}: ${error.message}.`;
  tasksState.retry = error.retryable ? retry : null;
  tasksState.errorFrom = from;
  box.querySelector(".retry").hidden = tasksState.retry === null;
  box.hidden = false;
}

function clearError(from) {
  if (from !== undefined && tasksState.errorFrom !== from) return;
  $("#tasks-error").hidden = true;
  tasksState.retry = null;
  tasksState.errorFrom = null;
}

$("#tasks-error .retry").addEventListener("click", () => {
  const retry = tasksState.retry;
  clearError();
  if (retry) retry();
});

// Runs one change against the API with "Saving…" shown; its result, or undefined on failure
// (then the error is shown, with `retry` when trying again can help).
async function saving(what, work, retry) {
  tasksState.saving += 1;
  updateTasksStatus();
  try {
    const result = await work();
    clearError("change");
    return result;
  } catch (error) {
    showError(what, error, retry, "change");
    return undefined;
  } finally {
    tasksState.saving -= 1;
    updateTasksStatus();
  }
}

function findTask(id) {
  return $("#tasks").querySelector(`li[data-id="${CSS.escape(id)}"]`);
}

function renderTask(task) {
  const item = document.createElement("li");
  item.dataset.id = task.id;
  item.className = task.done ? "done" : "";
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.checked = task.done;
  toggle.setAttribute("aria-label", `done: ${task.title}`);
  toggle.addEventListener("change", () => setDone(task, toggle.checked));
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = task.title; // textContent: never HTML from the server
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${task.title}`);
  remove.addEventListener("click", () => deleteTask(task));
  item.append(toggle, title, remove);
  return item;
}

async function setDone(task, done) {
  const item = findTask(task.id);
  if (item) item.classList.add("saving");
  const saved = await saving(
    task.done === done ? "update the task" : done ? "tick the task" : "untick the task",
    () => api("PATCH", `/tasks/${encodeURIComponent(task.id)}`, { done }),
    () => setDone(task, done),
  );
  if (saved) upsertTask(saved);
  else if (findTask(task.id)) findTask(task.id).replaceWith(renderTask(task)); // as it was
}

async function deleteTask(task) {
  const gone = await saving(
    "delete the task",
    () => api("DELETE", `/tasks/${encodeURIComponent(task.id)}`),
    () => deleteTask(task),
  );
  if (gone) removeTask(gone.id);
}

function upsertTask(task) {
  const fresh = renderTask(task);
  const existing = findTask(task.id);
  // Keep keyboard focus on the row being changed when it is redrawn.
  const focused = existing && existing.contains(document.activeElement);
  const focusIndex = focused ? [...existing.children].indexOf(document.activeElement) : -1;
  if (existing) existing.replaceWith(fresh);
  else $("#tasks").append(fresh);
  if (focusIndex >= 0) fresh.children[focusIndex].focus();
  updateTasksStatus();
}

function removeTask(id) {
  const existing = findTask(id);
  if (existing) existing.remove();
  updateTasksStatus();
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

let loadGeneration = 0;

async function loadTasks() {
  const generation = ++loadGeneration;
  tasksState.loading += 1;
  updateTasksStatus();
  try {
    const tasks = await fetchAllTasks();
    if (generation !== loadGeneration) return; // a later load answers instead
    $("#tasks").replaceChildren(...tasks.map(renderTask));
    tasksState.loaded = true;
    clearError("load");
  } catch (error) {
    if (generation === loadGeneration) showError("load the tasks", error, loadTasks, "load");
  } finally {
    tasksState.loading -= 1;
    updateTasksStatus();
  }
}

let adding = false;

async function addTask(title) {
  const input = $("#new-task-title");
  const button = $("#new-task button[type=submit]");
  adding = true;
  button.textContent = "Adding…";
  button.setAttribute("aria-disabled", "true");
  const task = await saving(
    "add the task",
    () => api("POST", "/tasks", { title, done: false }),
    () => addTask(title),
  );
  adding = false;
  button.textContent = "Add";
  button.removeAttribute("aria-disabled");
  if (task) {
    upsertTask(task);
    if (input.value === title) input.value = "";
  }
}

$("#new-task").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!adding) addTask($("#new-task-title").value);
});

// ---------------------------------------------------------------- chat
const chat = {
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

function chatConnected() {
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

async function connectChat(reconnecting) {
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

// ---------------------------------------------------------------- live feed
const feed = { source: null, attempt: 0, timer: 0 };
const FEED_LINES = 200;

function setFeedStatus(text) {
  $("#feed-status").textContent = text;
}

function feedLine(kind, task) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString([], { hour12: false });
  item.append(time, `${kind}: ${task.title}${task.done ? " (done)" : ""}`);
  $("#feed-empty").hidden = true;
  appendLine($("#feed"), item, FEED_LINES); // oldest first, the newest at the bottom
}

function connectFeed() {
  clearTimeout(feed.timer);
  setFeedStatus(feed.attempt === 0 ? "Connecting…" : "Reconnecting to the live feed…");
  const source = new EventSource("/feed");
  feed.source = source;
  // Load the list once the feed is open (and again after each reconnect): from then on no
  // change can slip between the snapshot and the stream.
  source.addEventListener("open", () => {
    feed.attempt = 0;
    setFeedStatus("Live.");
    loadTasks();
  });
  source.addEventListener("error", () => {
    if (feed.source !== source) return;
    // EventSource retries a dropped stream by itself, at a fixed pace, but gives up for good
    // on an HTTP error (503 while Redis is down): reconnect with backoff in both cases. The
    // reload on open covers what was missed meanwhile.
    source.close();
    feed.source = null;
    const delay = backoff(feed.attempt++);
    setFeedStatus(`Not live: lost the connection. Reconnecting in ${seconds(delay)} s…`);
    if (!tasksState.loaded && tasksState.loading === 0) loadTasks(); // say why, or list them
    feed.timer = setTimeout(connectFeed, delay);
  });
  // The server no longer has every change this page missed: start again from the API.
  source.addEventListener("reset", () => loadTasks());
  for (const kind of ["created", "updated", "deleted"]) {
    source.addEventListener(kind, (event) => {
      const task = JSON.parse(event.data);
      feedLine(kind, task);
      if (kind === "deleted") removeTask(task.id);
      else upsertTask(task);
    });
  }
}

// Back online: try now rather than at the end of the current backoff.
window.addEventListener("online", () => {
  if (feed.source === null) {
    feed.attempt = 0;
    connectFeed();
  }
  if (chat.joined && !chatConnected()) {
    chat.attempt = 0;
    connectChat(true);
  }
});

// ---------------------------------------------------------------- links
// Shown only when the server serves them (the inspector exists in development only).
async function showIfServed(link, path) {
  try {
    const response = await fetch(path, { cache: "no-store" });
    link.hidden = !response.ok;
  } catch {
    link.hidden = true;
  }
}

showIfServed($("#docs-link"), "/docs");
showIfServed($("#inspector-link"), "/_aaf/api/app");
updateTasksStatus();
connectFeed();
