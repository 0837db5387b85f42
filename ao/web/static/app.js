// The dashboard page: one event stream (/api/events/stream) keeps the fleet and the event
// log current (no polling), a hash router shows the fleet (#/) or a session (#/s/P/ID),
// and a form starts sessions. No build step: plain ES modules served as they are.

import {
  age, attention, call, describe, h, question, safeUrl, sessionHref, usage,
} from "./api.js";
import { SessionView } from "./session.js";

const GROUPS = [
  ["needs", "Needs you"],
  ["working", "Working"],
  ["done", "Done"],
];

/** What the page knows: the live sessions, whether it may change things, who listens. */
export const store = {
  sessions: null, // the `sessions` rows of the stream (null until the first arrives)
  authenticated: false,
  live: false,
  listeners: new Set(),
  notify(kind, payload) {
    for (const listener of this.listeners) listener(kind, payload);
  },
};

let stream = null;

function connect() {
  stream = new EventSource("/api/events/stream");
  stream.addEventListener("open", () => setLive(true));
  stream.addEventListener("sessions", (message) => {
    store.sessions = JSON.parse(message.data);
    store.notify("sessions");
  });
  // events of the log as they are recorded (a resumed stream may repeat a batch: the
  // session view shows each id once)
  stream.addEventListener("event", (message) => store.notify("event", JSON.parse(message.data)));
  stream.addEventListener("error", (message) => {
    if (message.data) banner(JSON.parse(message.data).error.message, "error");
    if (stream.readyState !== EventSource.OPEN) setLive(false);
  });
}

function setLive(live) {
  store.live = live;
  const badge = document.getElementById("conn");
  badge.textContent = live ? "live" : "reconnecting…";
  badge.className = `conn ${live ? "on" : "off"}`;
  if (live) banner("");
}

/** A line under the header (empty: hidden). */
export function banner(text, kind = "info") {
  const node = document.getElementById("banner");
  node.hidden = !text;
  node.textContent = text;
  node.className = `banner ${kind}`;
}

// ----------------------------------------------------------------------------- fleet

function renderFleet(root) {
  const rows = store.sessions;
  root.replaceChildren();
  if (rows === null) {
    root.append(h("p", { class: "empty" }, "Loading the fleet…"));
    return;
  }
  const orchestrators = rows.filter((r) => r.role === "orchestrator");
  const workers = rows.filter((r) => r.role !== "orchestrator");
  if (orchestrators.length) {
    root.append(group("orchestrator", "Orchestrator", orchestrators));
  }
  for (const [key, title] of GROUPS) {
    root.append(group(key, title, workers.filter((r) => attention(r) === key)));
  }
  if (!rows.length) {
    root.append(h("p", { class: "empty" }, "No sessions yet. Start one with “New session” or `ao new`."));
  }
  root.append(stoppedSection());
}

function group(key, title, rows) {
  return h(
    "section",
    { class: `group group-${key}`, dataset: { group: key } },
    h("h2", {}, title, h("span", { class: "count" }, String(rows.length))),
    h("div", { class: "cards" }, rows.map(card)),
  );
}

function card(row) {
  const asked = question(row);
  const pr = safeUrl(row.pr);
  const issue = safeUrl(row.issue_url);
  const used = usage(row.info);
  return h(
    "article",
    { class: `card status-${row.status}`, dataset: { session: row.id, project: row.project } },
    h(
      "div",
      { class: "card-top" },
      h("a", { class: "sid", href: sessionHref(row) }, row.id),
      h("span", { class: `badge status ${row.status}`, title: "status" }, row.status.replace(/_/g, " ")),
      row.activity !== row.status
        ? h("span", { class: `badge activity ${row.activity}`, title: "live activity" }, row.activity.replace(/_/g, " "))
        : null,
    ),
    h(
      "div",
      { class: "card-meta" },
      h("span", { title: "agent" }, row.agent),
      h("span", { title: "project" }, row.project),
      row.created_at ? h("span", { title: `started ${row.created_at}` }, age(row.created_at)) : null,
    ),
    row.branch ? h("div", { class: "branch mono", title: "branch" }, row.branch) : null,
    row.task ? h("div", { class: "task", title: row.task }, row.task.split("\n")[0].slice(0, 140)) : null,
    asked ? h("div", { class: "question" }, h("b", {}, "Asks: "), asked) : null,
    row.error ? h("div", { class: "error-line" }, row.error) : null,
    h(
      "div",
      { class: "card-links" },
      pr ? h("a", { href: pr, target: "_blank", rel: "noopener noreferrer" }, `PR #${row.pr_number ?? ""}`) : null,
      issue ? h("a", { href: issue, target: "_blank", rel: "noopener noreferrer" }, `issue ${row.issue}`) : null,
      used ? h("span", { class: "usage" }, used) : null,
    ),
  );
}

// the stopped sessions, once asked for (kept across re-renders of the fleet)
const stopped = { shown: false, rows: [], error: "" };

function stoppedSection() {
  const list = h("div", { class: "cards" });
  if (stopped.error) list.append(h("p", { class: "error-line" }, stopped.error));
  else if (stopped.shown && !stopped.rows.length) list.append(h("p", { class: "empty" }, "No stopped sessions."));
  list.append(...stopped.rows.map(stoppedCard));
  const button = h("button", {
    class: "link",
    id: "stopped-btn",
    onclick: async () => {
      if (stopped.shown) {
        stopped.shown = false;
        stopped.rows = [];
        store.notify("sessions");
        return;
      }
      button.disabled = true;
      try {
        const rows = await call("GET", "/api/sessions?all=true");
        stopped.rows = rows.filter((r) => r.archived_at);
        stopped.error = "";
      } catch (err) {
        stopped.error = describe(err);
      }
      stopped.shown = true;
      store.notify("sessions");
    },
  }, stopped.shown ? "Hide stopped sessions" : "Show stopped sessions");
  return h("section", { class: "group group-stopped", id: "stopped" }, button, list);
}

function stoppedCard(row) {
  const note = h("span", { class: "note" });
  return h(
    "article",
    { class: "card stopped", dataset: { session: row.id, project: row.project } },
    h("div", { class: "card-top" }, h("span", { class: "sid" }, row.id),
      h("span", { class: "badge status killed" }, row.status)),
    h("div", { class: "card-meta" }, h("span", {}, row.agent), h("span", {}, row.project),
      h("span", {}, `stopped ${age(row.archived_at)} ago`)),
    row.task ? h("div", { class: "task" }, row.task.split("\n")[0].slice(0, 140)) : null,
    h("div", { class: "card-links" }, h("button", {
      disabled: !store.authenticated,
      onclick: async (event) => {
        event.target.disabled = true;
        note.textContent = "restoring…";
        try {
          const query = row.project ? `?project=${encodeURIComponent(row.project)}` : "";
          await call("POST", `/api/sessions/${encodeURIComponent(row.id)}/restore${query}`);
          location.hash = sessionHref(row);
        } catch (err) {
          note.textContent = describe(err);
          event.target.disabled = false;
        }
      },
    }, "Restore"), note),
  );
}

// ----------------------------------------------------------------------------- new session

async function openNewSession() {
  const dialog = document.getElementById("new-dialog");
  const form = dialog.querySelector("form");
  const projects = form.elements.project;
  const agents = form.elements.agent;
  const status = form.querySelector(".form-status");
  status.textContent = "";
  dialog.showModal();
  try {
    const list = await call("GET", "/api/projects");
    projects.replaceChildren(...list.map((p) => h("option", { value: p.id }, p.id)));
  } catch (err) {
    status.textContent = describe(err);
  }
  if (agents.options.length <= 1) {
    call("GET", "/api/agents").then((list) => {
      for (const a of list.filter((x) => x.installed)) {
        agents.append(h("option", { value: a.name }, a.version ? `${a.name} (${a.version})` : a.name));
      }
    }).catch(() => {});
  }
}

async function submitNewSession(event) {
  event.preventDefault();
  const form = event.target;
  const status = form.querySelector(".form-status");
  const from = form.elements.source.value;
  const body = { projectId: form.elements.project.value };
  const text = form.elements.text.value.trim();
  if (!text) {
    status.textContent = from === "issue" ? "Give an issue (a number, #7 or its URL)." : "Describe the task.";
    return;
  }
  body[from === "issue" ? "issue" : "task"] = text;
  if (form.elements.agent.value) body.agent = form.elements.agent.value;
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  status.textContent = "starting the session…";
  try {
    const created = await call("POST", "/api/sessions", body);
    form.reset();
    document.getElementById("new-dialog").close();
    location.hash = sessionHref(created);
  } catch (err) {
    status.textContent = describe(err);
  } finally {
    submit.disabled = false;
  }
}

// ----------------------------------------------------------------------------- router

let current = null; // the view on screen: {kind, dispose?}

function route() {
  const root = document.getElementById("view");
  if (current && current.dispose) current.dispose();
  current = null;
  const match = /^#\/s\/([^/]*)\/(.+)$/.exec(location.hash);
  if (match) {
    const view = new SessionView(root, store, decodeURIComponent(match[1]), decodeURIComponent(match[2]));
    current = { kind: "session", dispose: () => view.dispose() };
    document.title = `${decodeURIComponent(match[2])} · ao`;
    return;
  }
  document.title = "ao";
  const render = () => renderFleet(root);
  const listener = (kind) => {
    if (kind === "sessions") render();
  };
  store.listeners.add(listener);
  const ticker = setInterval(render, 30000); // ages ("3m") move on without new data
  render();
  current = {
    kind: "fleet",
    dispose: () => {
      store.listeners.delete(listener);
      clearInterval(ticker);
    },
  };
}

async function main() {
  document.getElementById("new-btn").addEventListener("click", openNewSession);
  document.getElementById("new-form").addEventListener("submit", submitNewSession);
  document.getElementById("new-cancel").addEventListener("click", () => document.getElementById("new-dialog").close());
  for (const radio of document.querySelectorAll("input[name=source]")) {
    radio.addEventListener("change", () => {
      const issue = document.querySelector("input[name=source]:checked").value === "issue";
      document.getElementById("new-text").placeholder = issue ? "#7, 7 or the issue's URL" : "What should the agent do?";
    });
  }
  try {
    const health = await call("GET", "/api/health");
    store.authenticated = Boolean(health.authenticated);
  } catch (err) {
    banner(describe(err), "error");
  }
  document.body.classList.toggle("readonly", !store.authenticated);
  if (!store.authenticated) {
    const auth = document.getElementById("auth");
    auth.textContent = "Read-only: this browser has no token. Open the address `ao dashboard` printed (it carries the token once).";
    auth.hidden = false;
    document.getElementById("new-btn").disabled = true;
  }
  connect();
  window.addEventListener("hashchange", route);
  route();
}

main();
