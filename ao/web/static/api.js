// Helpers shared by the page's modules: DOM building (text only: session data is never
// parsed as HTML), REST calls with the server's error documents, formatting, attention.

/** An element: h("a", {href: "#/", class: "x"}, "text", child, ...). Strings become text. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A failure the server reported: its error document's message, hint and code. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.hint = error.hint || "";
  }
}

/** Call the REST API (the token travels in the cookie); the JSON answer, or ApiError. */
export async function call(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { message: "the dashboard does not answer", hint: String(err) });
  }
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (doc && doc.error) || { message: text.slice(0, 200) });
  }
  return doc === null ? text : doc;
}

/** The message of any failure, with its hint. */
export function describe(err) {
  if (err instanceof ApiError) return err.hint ? `${err.message} — ${err.hint}` : err.message;
  return String(err && err.message ? err.message : err);
}

/** Only web links become hrefs (a record could hold anything). */
export function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

/** "3m", "2h", "5d" since an ISO time. */
export function age(iso, now = Date.now()) {
  const then = Date.parse(iso || "");
  if (Number.isNaN(then)) return "";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** "12.3k tokens · $0.04" from a card's `info`, or "". */
export function usage(info) {
  if (!info) return "";
  const parts = [];
  const tokens = (info.input_tokens || 0) + (info.output_tokens || 0);
  if (info.input_tokens != null || info.output_tokens != null) {
    parts.push(`${tokens >= 1000 ? `${(tokens / 1000).toFixed(1)}k` : tokens} tokens`);
  }
  if (info.cost_usd != null) parts.push(`$${Number(info.cost_usd).toFixed(2)}`);
  return parts.join(" · ");
}

// statuses that wait for the human: a question, a blocked or stuck agent, a failure, or a
// pull request only a person can review or merge
const NEEDS_YOU = new Set([
  "needs_input", "blocked", "stuck", "errored", "review_pending", "approved", "mergeable",
]);
const WORKING = new Set(["working", "spawning", "queued", "ci_failed", "changes_requested"]);

/** Which group a session belongs to: "needs" (you), "working" or "done". */
export function attention(row) {
  if (row.activity === "needs_input" || row.activity === "blocked") return "needs";
  if (NEEDS_YOU.has(row.status)) return "needs";
  if (row.activity === "working" || row.activity === "starting") return "working";
  if (WORKING.has(row.status)) return "working";
  return "done";
}

/** The question a session asks (its evidence), when it needs input. */
export function question(row) {
  if (row.activity !== "needs_input" && row.status !== "needs_input") return "";
  return (row.evidence && row.evidence.detail) || "it waits for an answer";
}

/** The route of a session's page. */
export function sessionHref(row) {
  return `#/s/${encodeURIComponent(row.project || "")}/${encodeURIComponent(row.id)}`;
}

/** The API path of a session, with its project (ids may repeat across projects). */
export function sessionPath(project, id, tail = "") {
  const query = project ? `?project=${encodeURIComponent(project)}` : "";
  return `/api/sessions/${encodeURIComponent(id)}${tail}${query}`;
}

/** Numbered options of a permission menu on a screen (as the server's send reads them). */
export function menuOptions(screen) {
  const line = /^[\s│|]*(?:[❯›>▶]\s*)?(\d)\.\s+(.+?)(?:\s+\((\w+)\))?[\s│|]*$/;
  const drawn = screen.split("\n").filter((l) => l.replace(/[\s│|]/g, ""));
  const options = new Map();
  for (const text of drawn.slice(-20)) {
    const m = line.exec(text);
    if (m) options.set(m[1], m[2].trim());
  }
  return options.size >= 2 ? [...options.entries()].sort() : [];
}
