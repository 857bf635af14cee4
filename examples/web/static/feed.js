// The live feed (server-sent events): oldest first, reconnecting with backoff.

import { $, appendLine, backoff, seconds } from "./shared.js";
import { loadTasks, removeTask, tasksState, upsertTask } from "./tasks.js";

export const feed = { source: null, attempt: 0, timer: 0 };
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

export function connectFeed() {
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
