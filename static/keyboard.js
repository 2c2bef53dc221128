// Keyboard shortcuts: one table drives both the handler and the help dialog.

import { h } from "./dom.js";

/** Focus where arrows, Enter and Home belong to us rather than to the focused control. */
function navigable(el) {
  return el === document.body || el === document.documentElement || !el
    || el.closest("#list") !== null || el.matches(".subject, .message-pane, .placeholder");
}

/** As navigable, but not on a link: a focused row is a link and opens itself on Enter. */
function navigableNotLink(el) {
  return navigable(el) && !el?.closest?.("a");
}

/**
 * Each entry: keys as the help dialog shows them ("Shift+" for a modifier); the action
 * they call; and where needed
 *   when     {key: test(focused element)}: that key acts only where the test passes,
 *            so arrows, Enter and Home stay with other controls;
 *   args     one argument per key, in order, for the action;
 *   inSearch the action instead while typing in the search box (other keys type there).
 * A key in no entry is left alone.
 */
export const SHORTCUTS = [
  { keys: ["j", "↓"], action: "next", when: { "↓": navigable }, help: "Next (older) message" },
  { keys: ["k", "↑"], action: "previous", when: { "↑": navigable }, help: "Previous (newer) message" },
  { keys: ["Enter", "o"], action: "open", when: { Enter: navigableNotLink }, help: "Open the selected message" },
  { keys: ["Esc"], action: "back", inSearch: "leaveSearch", help: "Back to the list; leave the search box" },
  { keys: ["Delete", "#"], action: "delete", help: "Delete the selected message" },
  { keys: ["Shift+Delete"], action: "deleteAll", help: "Delete all (or all matching), after asking" },
  { keys: ["u"], action: "toggleRead", help: "Mark read / unread" },
  { keys: ["Shift+I"], action: "markAllRead", help: "Mark all (or all matching) read in this mailbox" },
  { keys: ["m", "Shift+M"], action: "mailbox", args: [1, -1], help: "Next / previous mailbox" },
  { keys: ["/"], action: "search", help: "Search (words, from: to: subject: is:unread has:attachment, -word to leave out)" },
  { keys: ["1", "2", "3", "4", "5", "6"], action: "tab", args: [0, 1, 2, 3, 4, 5], help: "HTML, Text, Source, Headers, Parts, Check" },
  { keys: ["b"], action: "remote", help: "Block or show remote content in this message" },
  { keys: ["g", "Home"], action: "first", when: { Home: navigable }, help: "First message on the page" },
  { keys: ["[", "]"], action: "page", args: [-1, 1], help: "Newer / older page" },
  { keys: ["?"], action: "help", help: "Show these shortcuts" },
];

// The help dialog's names for keys whose event.key is spelled otherwise.
const KEY_VALUES = { "↓": "ArrowDown", "↑": "ArrowUp", Esc: "Escape" };

/** "Shift+Delete" -> "Shift+Delete", "↓" -> "ArrowDown": the lookup key for a table key. */
function eventName(shown) {
  const shift = shown.startsWith("Shift+");
  const name = shift ? shown.slice("Shift+".length) : shown;
  return `${shift ? "Shift+" : ""}${KEY_VALUES[name] ?? name}`;
}

/** Lookup key -> {action, inSearch, args, when} for every key in the table. */
const BINDINGS = new Map();
for (const entry of SHORTCUTS) {
  if (entry.args && entry.args.length !== entry.keys.length) {
    throw new Error(`shortcut ${entry.action}: one argument per key`);
  }
  entry.keys.forEach((shown, i) => {
    const name = eventName(shown);
    if (BINDINGS.has(name)) throw new Error(`shortcut key ${shown} is listed twice`);
    BINDINGS.set(name, {
      action: entry.action,
      inSearch: entry.inSearch ?? null,
      args: entry.args ? [entry.args[i]] : [],
      when: entry.when?.[shown] ?? null,
    });
  });
}

/**
 * The binding for a keydown, if any. Shift is part of printable keys (# and ? need it on
 * many layouts), so an unshifted binding answers with Shift held too, unless the table
 * binds the shifted key itself (Shift+Delete).
 */
function bindingFor(event) {
  return (event.shiftKey && BINDINGS.get(`Shift+${event.key}`)) || BINDINGS.get(event.key) || null;
}

function isEditable(el) {
  return el instanceof HTMLElement && (el.isContentEditable || el.matches("input, textarea, select"));
}

/** actions: one function per action named in SHORTCUTS; tab(i), page(d), mailbox(d) take their args. */
export function bindKeys(actions) {
  // A table entry without its action fails now, not on the first key press.
  for (const entry of SHORTCUTS) {
    for (const name of [entry.action, entry.inSearch]) {
      if (name && typeof actions[name] !== "function") throw new Error(`no action for shortcut ${name}`);
    }
  }
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (document.querySelector("dialog[open]")) return; // the dialog has the keyboard
    const binding = bindingFor(event);
    if (!binding) return;
    const target = event.target;
    let action = binding.action;
    if (isEditable(target)) {
      // Typing fields keep their keys; only the search box gives some up.
      if (target.id !== "search" || !binding.inSearch) return;
      action = binding.inSearch;
    } else if (binding.when && !binding.when(target)) {
      return;
    }
    event.preventDefault();
    actions[action](...binding.args);
  });
}

export function helpTable() {
  return h("table", { class: "shortcuts" },
    h("tbody", {}, SHORTCUTS.map((s) => h("tr", {},
      h("td", {}, s.keys.flatMap((k, i) => [i ? " " : null, h("kbd", {}, k)])),
      h("td", {}, s.help)))));
}
