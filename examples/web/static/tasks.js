// The tasks list: loading, empty, saving and error states, and every change through the API.

import { $, api } from "./shared.js";

export const tasksState = { loaded: false, loading: 0, saving: 0, retry: null, errorFrom: null };

export function updateTasksStatus() {
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

export function upsertTask(task) {
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

export function removeTask(id) {
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

export async function loadTasks() {
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
