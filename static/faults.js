// Failures on purpose, in view: a banner while fault rules are in force (so nobody
// wonders why mail fails), with a button to clear them, and the SMTP session log.

import * as api from "./api.js";
import { clear, h } from "./dom.js";

/** One rule as a line of text: "rcpt to=ada@example.com → 451 4.3.0 Try later (2 left, fired 1)". */
export function describeRule(rule) {
  const match = Object.entries(rule.match).map(([key, value]) => `${key}=${value}`);
  let what = rule.action === "reply" ? rule.reply ?? "default reply" : rule.action;
  if (rule.action === "delay") what = `delay ${rule.delay} s${rule.reply ? `, then ${rule.reply}` : ""}`;
  const often = [];
  if (rule.times !== null) often.push(`${rule.times} left`);
  if (rule.every !== null) often.push(`every ${rule.every}`);
  if (rule.rate !== null) often.push(`over ${rule.rate}`);
  if (rule.probability !== null) often.push(`p=${rule.probability}`);
  often.push(`fired ${rule.fired}`);
  return `#${rule.id} ${[rule.stage, ...match].join(" ")} → ${what} (${often.join(", ")})`;
}

export class FaultBanner {
  constructor({ root, text, list, clearButton, onError }) {
    this.root = root;
    this.text = text;
    this.list = list;
    this.onError = onError;
    this.pending = 0;
    clearButton.addEventListener("click", () => this.clearAll());
  }

  /** Refresh from the server, coalescing bursts of changes. */
  refresh(delay = 100) {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.load(), delay);
  }

  async load() {
    try {
      this.render((await api.listFaults()).faults);
    } catch (error) {
      this.onError?.(error);
    }
  }

  render(rules) {
    this.root.hidden = rules.length === 0;
    this.text.textContent =
      rules.length === 1 ? "1 fault rule is in force: some mail will fail on purpose." : `${rules.length} fault rules are in force: some mail will fail on purpose.`;
    clear(this.list);
    for (const rule of rules) this.list.append(h("li", {}, describeRule(rule)));
  }

  async clearAll() {
    try {
      await api.clearFaults();
      this.render([]);
    } catch (error) {
      this.onError?.(error);
    }
  }
}

/** The SMTP session log, in a dialog. */
export async function showSessions(dialog, body) {
  clear(body);
  body.append(h("p", { class: "muted" }, "Loading…"));
  dialog.showModal();
  let sessions;
  try {
    sessions = (await api.listSessions()).sessions;
  } catch (error) {
    clear(body);
    body.append(h("p", { class: "error" }, error.message));
    return;
  }
  clear(body);
  if (sessions.length === 0) {
    body.append(h("p", { class: "muted" }, "No SMTP sessions yet."));
    return;
  }
  for (const session of sessions) {
    const facts = [session.client, session.login ? `login ${session.login}` : null, session.started];
    if (session.faults.length) facts.push(`fault rules fired: ${session.faults.map((id) => `#${id}`).join(", ")}`);
    if (session.messages.length) facts.push(`stored: ${session.messages.map((id) => `#${id}`).join(", ")}`);
    const lines = session.transcript.map((t) =>
      h("div", { class: `line ${t.from}` }, h("span", { class: "who" }, t.from === "client" ? "C:" : "S:"), " ", t.line),
    );
    if (session.lines_dropped) lines.push(h("div", { class: "line muted" }, `… ${session.lines_dropped} more lines`));
    body.append(
      h("section", { class: "session" }, h("h3", {}, `Session ${session.id}`), h("p", { class: "muted" }, facts.filter(Boolean).join(" · ")), h("pre", { class: "transcript" }, lines)),
    );
  }
}
