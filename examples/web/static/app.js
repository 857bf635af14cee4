// The demo page: plain JavaScript modules, no build step. Talks to the tasks JSON API, the chat
// WebSocket and the live SSE feed served by the same aaf app. Every state is shown as it is:
// loading, empty, saving, errors with a retry, reconnecting (with backoff) and refusals.
//   shared.js  the API client, backoff        tasks.js  the tasks list
//   chat.js    the chat                        feed.js   the live feed
import { chat, chatConnected, connectChat } from "./chat.js";
import { connectFeed, feed } from "./feed.js";
import { $ } from "./shared.js";
import { updateTasksStatus } from "./tasks.js";

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

// Shown only when the server serves them (the inspector exists in development only).
// data-checked tells (tests, too) that the answer is in.
async function showIfServed(link, path) {
  try {
    const response = await fetch(path, { cache: "no-store" });
    link.hidden = !response.ok;
  } catch {
    link.hidden = true;
  }
  link.dataset.checked = "true";
}

showIfServed($("#docs-link"), "/docs");
showIfServed($("#inspector-link"), "/_aaf/api/app");
updateTasksStatus();
connectFeed();
