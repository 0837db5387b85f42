// One session's page: its state (from the shared event stream), the live terminal, a
// message box (the CLI's verified send), answer buttons for a permission prompt, stop /
// restore / open PR, the evidence behind its state (`ao why`) and its event timeline.

import {
  age, call, describe, h, menuOptions, question, safeUrl, sessionPath, usage,
} from "./api.js";
import { SessionTerminal } from "./terminal.js";

const EVENTS_SHOWN = 200;

export class SessionView {
  constructor(root, store, project, id) {
    this.root = root;
    this.store = store;
    this.project = project;
    this.id = id;
    this.row = null;
    this.asked = ""; // the question the answer buttons were made for
    this.whyKey = "";
    this.disposed = false;
    this.build();
    this.listener = (kind, payload) => {
      if (kind === "sessions") this.update();
      if (kind === "event" && payload.session === this.id) this.addEvent(payload, true);
    };
    store.listeners.add(this.listener);
    this.update();
    this.loadEvents();
  }

  path(tail = "") {
    return sessionPath(this.project, this.id, tail);
  }

  build() {
    const canWrite = this.store.authenticated;
    this.title = h("h1", {}, this.id);
    this.badges = h("div", { class: "badges" });
    this.links = h("div", { class: "links" });
    this.actionNote = h("span", { class: "note", id: "action-note" });
    this.stopButton = h("button", { id: "stop-btn", class: "danger", disabled: !canWrite, onclick: () => this.stop() }, "Stop");
    this.restoreButton = h("button", { id: "restore-btn", disabled: !canWrite, onclick: () => this.restore() }, "Restore");
    this.prButton = h("button", { id: "pr-btn", disabled: !canWrite, onclick: () => this.openPr() }, "Open PR");
    this.termState = h("span", { class: "term-state", id: "term-state" }, "connecting…");
    this.lockButton = h("button", { id: "lock-btn", disabled: !canWrite, onclick: () => this.toggleInput() }, "Read-only · unlock input");
    this.termBox = h("div", { class: "term", id: "terminal" });
    this.answers = h("div", { class: "answers", id: "answers", hidden: true });
    this.messageText = h("textarea", { id: "message-text", rows: 2, placeholder: "Message the agent (Ctrl+Enter sends)", disabled: !canWrite });
    this.messageStatus = h("span", { class: "msg-status", id: "message-status" });
    this.sendButton = h("button", { type: "submit", id: "send-btn", disabled: !canWrite }, "Send");
    this.messageText.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.sendMessage();
      }
    });
    this.why = h("div", { class: "why", id: "why" });
    this.details = h("dl", { class: "details" });
    this.timeline = h("ol", { class: "timeline", id: "timeline" });
    this.gone = h("p", { class: "gone", id: "gone", hidden: true });
    this.root.replaceChildren(h(
      "section",
      { class: "session", dataset: { session: this.id } },
      h("div", { class: "s-head" },
        h("a", { href: "#/", class: "back" }, "← fleet"),
        this.title, this.badges, this.links,
        h("div", { class: "actions" }, this.prButton, this.restoreButton, this.stopButton, this.actionNote)),
      this.gone,
      h("div", { class: "s-body" },
        h("div", { class: "s-main" },
          h("div", { class: "term-bar" }, this.lockButton, this.termState,
            h("button", { class: "link", onclick: () => this.terminal && this.terminal.reconnect() }, "reconnect")),
          this.termBox,
          this.answers,
          h("form", { class: "msg", onsubmit: (event) => { event.preventDefault(); this.sendMessage(); } },
            this.messageText, this.sendButton, this.messageStatus)),
        h("aside", { class: "s-side" },
          h("section", {}, h("h3", {}, "Why (ao why)"), this.why),
          h("section", {}, h("h3", {}, "Details"), this.details),
          h("section", {}, h("h3", {}, "Events"), this.timeline))),
    ));
    this.terminal = new SessionTerminal(this.termBox, {
      id: this.id,
      project: this.project,
      authenticated: this.store.authenticated,
      onState: (state) => this.showTerminal(state),
    });
  }

  /** The session's row in the fleet changed (or arrived). */
  update() {
    if (this.disposed || this.store.sessions === null) return;
    const row = this.store.sessions.find((r) => r.id === this.id && (!this.project || r.project === this.project));
    this.row = row || null;
    // back to life (restored here or elsewhere): its terminal comes back too
    const live = Boolean(row) && row.activity !== "exited";
    if (live && this.wasLive === false && ["ended", "closed", "error"].includes(this.terminal.status)) {
      this.terminal.reconnect();
    }
    this.wasLive = live;
    this.gone.hidden = Boolean(row);
    this.gone.textContent = row ? "" : "This session is not running (stopped, or not started yet). Restore brings it back.";
    this.restoreButton.hidden = Boolean(row) && row.activity !== "exited" && row.status !== "blocked";
    this.stopButton.hidden = !row;
    if (!row) {
      this.badges.replaceChildren(h("span", { class: "badge status killed" }, "not running"));
      this.answers.hidden = true;
      return;
    }
    this.badges.replaceChildren(...[
      h("span", { class: `badge status ${row.status}`, id: "status-badge", title: "status" }, row.status.replace(/_/g, " ")),
      row.activity !== row.status
        ? h("span", { class: `badge activity ${row.activity}`, id: "activity-badge", title: "live activity" }, row.activity.replace(/_/g, " "))
        : null,
      h("span", { class: "meta" }, `${row.agent} · ${row.project} · ${age(row.created_at)}`),
    ].filter(Boolean));
    const pr = safeUrl(row.pr);
    const issue = safeUrl(row.issue_url);
    this.links.replaceChildren(...[
      pr ? h("a", { href: pr, target: "_blank", rel: "noopener noreferrer", id: "pr-link" }, `PR #${row.pr_number ?? ""}`) : null,
      issue ? h("a", { href: issue, target: "_blank", rel: "noopener noreferrer" }, `issue ${row.issue}${row.issue_title ? `: ${row.issue_title}` : ""}`) : null,
    ].filter(Boolean));
    this.prButton.hidden = Boolean(pr);
    this.details.replaceChildren(
      ...detail("branch", row.branch), ...detail("worktree", row.worktree),
      ...detail("task", row.task), ...detail("usage", usage(row.info)), ...detail("error", row.error),
    );
    this.updateAnswers(row);
    const whyKey = `${row.status}|${row.activity}|${row.evidence ? row.evidence.detail : ""}`;
    if (whyKey !== this.whyKey) {
      this.whyKey = whyKey;
      this.loadWhy();
    }
  }

  async loadWhy() {
    try {
      const why = await call("GET", this.path("/why"));
      const ev = why.evidence || {};
      this.why.replaceChildren(...[
        h("p", {}, `${why.id} is `, h("b", {}, why.activity), ` (status ${why.status})`),
        h("p", {}, "because: ", ev.detail || "—"),
        h("p", { class: "muted" }, `source: ${ev.source || "—"}${ev.age != null ? `, ${Math.round(ev.age)}s old` : ""}`),
        why.status_reason ? h("p", { class: "muted" }, `status since ${why.status_since}: ${why.status_reason}`) : null,
      ].filter(Boolean));
    } catch (err) {
      this.why.replaceChildren(h("p", { class: "muted" }, describe(err)));
    }
  }

  async loadEvents() {
    try {
      const query = new URLSearchParams({ session: this.id, limit: String(EVENTS_SHOWN) });
      if (this.project) query.set("project", this.project);
      const page = await call("GET", `/api/events?${query}`);
      for (const event of page.events) this.addEvent(event, false);
    } catch (err) {
      this.timeline.append(h("li", { class: "muted" }, describe(err)));
    }
  }

  addEvent(event, live) {
    if (this.disposed || this.timeline.querySelector(`[data-id="${CSS.escape(event.id)}"]`)) return;
    const item = h("li", { dataset: { id: event.id, type: event.type }, class: `prio-${event.priority}` },
      h("time", { datetime: event.ts, title: event.ts }, event.ts.slice(11, 19)),
      h("b", {}, event.type), " ", event.message || "");
    this.timeline.prepend(item); // newest first
    while (this.timeline.children.length > EVENTS_SHOWN) this.timeline.lastChild.remove();
    if (live) item.classList.add("fresh");
  }

  /** Answer buttons while the agent asks: the menu's options as drawn, else yes / no. */
  async updateAnswers(row) {
    const asked = question(row);
    if (!asked) {
      this.asked = "";
      this.answers.hidden = true;
      return;
    }
    if (asked === this.asked) return;
    this.asked = asked;
    let options = [];
    for (let attempt = 0; attempt < 4 && !options.length; attempt += 1) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 1000)); // the menu may draw late
      if (this.asked !== asked || this.disposed) return;
      try {
        options = menuOptions(await call("GET", this.path("/logs") + `${this.project ? "&" : "?"}lines=40`));
      } catch {
        options = [];
      }
    }
    if (this.asked !== asked) return;
    const choices = options.length
      ? options.map(([number, label]) => [number, `${number}. ${label}`])
      : [["yes", "Yes"], ["no", "No"]];
    this.answers.replaceChildren(
      h("p", { class: "question" }, h("b", {}, "The agent asks: "), asked),
      h("div", { class: "choices" }, choices.map(([reply, label]) => h("button", {
        class: "answer",
        dataset: { reply },
        disabled: !this.store.authenticated,
        onclick: () => this.sendMessage(reply),
      }, label))),
    );
    this.answers.hidden = false;
  }

  /** Send the message box's text (or ``reply``) the way `ao send` does. */
  async sendMessage(reply) {
    const content = reply ?? this.messageText.value;
    if (!content.trim()) return;
    this.sendButton.disabled = true;
    this.messageStatus.className = "msg-status pending";
    this.messageStatus.textContent = "sending…";
    try {
      const sent = await call("POST", this.path("/message"), { content });
      this.messageStatus.className = `msg-status ${sent.status}`;
      this.messageStatus.textContent = `${sent.status}: ${sent.detail}`;
      if (reply === undefined) this.messageText.value = "";
      if (reply !== undefined) this.answers.hidden = true;
    } catch (err) {
      this.messageStatus.className = "msg-status failed";
      this.messageStatus.textContent = describe(err);
    } finally {
      this.sendButton.disabled = !this.store.authenticated;
    }
  }

  async stop() {
    if (!window.confirm(`Stop ${this.id}? Its work is kept (a worktree holding work stays).`)) return;
    await this.act("stopping…", () => call("DELETE", this.path()), (r) =>
      r.worktree_removed ? "stopped; worktree removed" : `stopped; worktree kept${r.kept_reason ? `: ${r.kept_reason}` : ""}`);
  }

  async restore() {
    await this.act("restoring…", () => call("POST", this.path("/restore")), () => {
      this.terminal.reconnect();
      return "restored";
    });
  }

  async openPr() {
    await this.act("committing, pushing, opening the PR…", () => call("POST", this.path("/finalize"), { pr: true }),
      (r) => (r.pr ? `PR opened: ${r.pr}` : `pushed ${r.branch}`));
  }

  async act(doing, request, done) {
    this.actionNote.className = "note";
    this.actionNote.textContent = doing;
    try {
      this.actionNote.textContent = done(await request());
    } catch (err) {
      this.actionNote.className = "note failed";
      this.actionNote.textContent = describe(err);
    }
  }

  toggleInput() {
    this.terminal.setUnlocked(!this.terminal.unlocked);
  }

  showTerminal(state) {
    const words = { connecting: "connecting…", live: "live", ended: "ended", closed: "disconnected", refused: "refused", error: "error" };
    this.termState.textContent = `${words[state.status] || state.status} · ${state.cols}×${state.rows}${state.detail ? ` · ${state.detail}` : ""}`;
    this.termState.className = `term-state ${state.status}`;
    this.lockButton.textContent = state.unlocked ? "Input unlocked · lock" : "Read-only · unlock input";
    this.lockButton.classList.toggle("unlocked", state.unlocked);
    this.termBox.classList.toggle("unlocked", state.unlocked);
  }

  dispose() {
    this.disposed = true;
    this.store.listeners.delete(this.listener);
    this.terminal.dispose();
  }
}

function detail(name, value) {
  if (!value) return [];
  return [h("dt", {}, name), h("dd", { class: name === "task" ? "task" : "mono" }, String(value))];
}
