// A session's live terminal: xterm.js over the server's terminal websocket
// (/api/sessions/ID/terminal). Every viewer of a session shares one view on the server;
// its output arrives as binary frames, control messages as JSON text. Input is read-only
// until the user unlocks it, and the server drops keystrokes of a locked viewer anyway.

import { Terminal } from "./vendor/xterm/xterm.mjs";
import { FitAddon } from "./vendor/xterm/addon-fit.mjs";

// Replies the emulator itself sends to the view's queries (device attributes, cursor
// position, status, colours, version): never typed by a person, and they would arrive
// once per viewer and again on every replay.
const REPLY =
  /^\x1b(?:\[[?>=]?[\d;]*[cnR]|\[\?[\d;]*\$y|\][^\x07\x1b]*(?:\x07|\x1b\\)|P[^\x1b]*\x1b\\)$/;

export class SessionTerminal {
  /**
   * @param {HTMLElement} container where the terminal is drawn
   * @param {{id: string, project: string, authenticated: boolean,
   *          onState: (state: object) => void}} options
   */
  constructor(container, { id, project, authenticated, onState }) {
    this.container = container;
    this.authenticated = authenticated;
    this.id = id;
    this.project = project;
    this.onState = onState || (() => {});
    this.unlocked = false;
    this.status = "connecting";
    this.detail = "";
    this.socket = null;
    this.closedByUs = false;
    this.term = new Terminal({
      cursorBlink: false,
      disableStdin: true,
      convertEol: false,
      scrollback: 2000,
      fontSize: window.innerWidth < 600 ? 11 : 13,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace",
      theme: { background: "#0d1117", foreground: "#e6edf3" },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(container);
    this.term.onData((data) => this.type(data, false));
    this.term.onBinary((data) => this.type(data, true));
    let pending = null;
    this.observer = new ResizeObserver(() => {
      clearTimeout(pending);
      pending = setTimeout(() => this.proposeSize(), 120);
    });
    this.observer.observe(container);
    this.connect();
  }

  /** The size that fits the container, in cells. */
  fitted() {
    const dims = this.fit.proposeDimensions();
    if (!dims || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) {
      return { cols: 80, rows: 24 };
    }
    return { cols: Math.max(10, dims.cols), rows: Math.max(3, dims.rows) };
  }

  /** Whether the container has a size to fit (it is laid out and shown). */
  measurable() {
    const dims = this.fit.proposeDimensions();
    return Boolean(dims) && Number.isFinite(dims.cols) && Number.isFinite(dims.rows);
  }

  connect() {
    const { cols, rows } = this.fitted();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ cols, rows });
    if (this.project) query.set("project", this.project);
    const path = `/api/sessions/${encodeURIComponent(this.id)}/terminal?${query}`;
    const socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.setState("connecting", "");
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.setState("live", "");
      // joining a view asks for the size that fits here, as attaching with tmux does: a view
      // a wider screen started (or resized) would not fit a phone (the server ignores a
      // size the view already has)
      if (this.measurable()) this.send({ type: "resize", ...this.fitted() });
      if (this.unlocked) this.send({ type: "unlock" }); // a reconnect keeps the choice
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      if (this.closedByUs) return;
      if (!opened) { // refused at the handshake (the browser does not say why)
        this.setState("refused", this.authenticated
          ? "the server refused the terminal"
          : "the terminal needs the token: open the URL `ao dashboard` printed");
      } else if (this.status !== "ended" && this.status !== "error") {
        this.setState("closed", "the terminal connection closed");
      }
    };
  }

  receive(data) {
    if (typeof data !== "string") {
      this.term.write(new Uint8Array(data));
      return;
    }
    const message = JSON.parse(data);
    switch (message.type) {
      case "size":
        this.term.resize(message.cols, message.rows);
        this.setState(this.status, this.detail);
        break;
      case "reset":
        this.term.reset();
        break;
      case "input":
        this.unlocked = Boolean(message.unlocked);
        this.term.options.disableStdin = !this.unlocked;
        this.setState(this.status, this.detail);
        break;
      case "exit":
        this.setState("ended", message.detail || "the session's view ended");
        break;
      case "error":
        this.setState("error", message.error ? message.error.message : "error");
        break;
      default:
        break;
    }
  }

  type(data, binary) {
    if (!this.unlocked || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    if (!binary && REPLY.test(data)) return;
    if (binary) {
      const bytes = Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff);
      this.socket.send(bytes);
    } else {
      this.send({ type: "input", data });
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  proposeSize() {
    const { cols, rows } = this.fitted();
    if (cols !== this.term.cols || rows !== this.term.rows) {
      this.send({ type: "resize", cols, rows });
    }
  }

  /** Let this viewer's keystrokes reach the agent (or stop them). */
  setUnlocked(unlocked) {
    this.send({ type: unlocked ? "unlock" : "lock" });
    if (unlocked) this.term.focus();
  }

  reconnect() {
    this.closedByUs = true;
    if (this.socket) this.socket.close();
    this.closedByUs = false;
    this.term.reset();
    this.connect();
  }

  setState(status, detail) {
    this.status = status;
    this.detail = detail;
    this.onState({
      status,
      detail,
      unlocked: this.unlocked,
      cols: this.term.cols,
      rows: this.term.rows,
    });
  }

  dispose() {
    this.closedByUs = true;
    this.observer.disconnect();
    if (this.socket) this.socket.close();
    this.term.dispose();
  }
}
