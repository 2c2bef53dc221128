// Keyboard shortcuts: one table drives both the handler and the help dialog.

import { h } from "./dom.js";

export const SHORTCUTS = [
  { keys: ["j", "↓"], action: "next", help: "Next (older) message" },
  { keys: ["k", "↑"], action: "previous", help: "Previous (newer) message" },
  { keys: ["Enter", "o"], action: "open", help: "Open the selected message" },
  { keys: ["Esc"], action: "back", help: "Back to the list; leave the search box" },
  { keys: ["Delete", "#"], action: "delete", help: "Delete the selected message" },
  { keys: ["Shift+Delete"], action: "deleteAll", help: "Delete all (or all matching), after asking" },
  { keys: ["u"], action: "toggleRead", help: "Mark read / unread" },
  { keys: ["/"], action: "search", help: "Search (from: to: subject: and free text)" },
  { keys: ["1", "2", "3", "4", "5"], action: "tab", help: "HTML, Text, Source, Headers, Parts" },
  { keys: ["b"], action: "remote", help: "Block or show remote content in this message" },
  { keys: ["g", "Home"], action: "first", help: "First message on the page" },
  { keys: ["[", "]"], action: "page", help: "Newer / older page" },
  { keys: ["?"], action: "help", help: "Show these shortcuts" },
];

function isEditable(el) {
  return el instanceof HTMLElement && (el.isContentEditable || el.matches("input, textarea, select"));
}

/** Where arrows and Enter belong to us rather than to the focused control. */
function isNavigable(el) {
  return el === document.body || el === document.documentElement || !el
    || el.closest("#list") !== null || el.matches(".subject, .message-pane, .placeholder");
}

/** actions: {next, previous, open, back, delete, deleteAll, toggleRead, search, tab(i), remote, first, page(d), help}. */
export function bindKeys(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (document.querySelector("dialog[open]")) return; // the dialog has the keyboard
    const target = event.target;
    const key = event.key;
    if (isEditable(target)) {
      if (key === "Escape" && target.id === "search") {
        event.preventDefault();
        actions.leaveSearch();
      }
      return;
    }
    const nav = isNavigable(target);
    let handled = true;
    switch (key) {
      case "j": actions.next(); break;
      case "k": actions.previous(); break;
      case "ArrowDown": if (nav) actions.next(); else handled = false; break;
      case "ArrowUp": if (nav) actions.previous(); else handled = false; break;
      case "Enter":
        // A focused row is a link and opens itself; other controls keep Enter.
        if (nav && !target.closest?.("a")) actions.open(); else handled = false;
        break;
      case "o": actions.open(); break;
      case "Escape": actions.back(); break;
      case "Delete":
      case "Backspace":
        if (event.shiftKey) actions.deleteAll(); else actions.delete();
        break;
      case "#": actions.delete(); break;
      case "u": actions.toggleRead(); break;
      case "/": actions.search(); break;
      case "b": actions.remote(); break;
      case "g": actions.first(); break;
      case "Home": if (nav) actions.first(); else handled = false; break;
      case "[": actions.page(-1); break;
      case "]": actions.page(1); break;
      case "?": actions.help(); break;
      default:
        if (/^[1-5]$/.test(key)) actions.tab(Number(key) - 1);
        else handled = false;
    }
    if (handled) event.preventDefault();
  });
}

export function helpTable() {
  return h("table", { class: "shortcuts" },
    h("tbody", {}, SHORTCUTS.map((s) => h("tr", {},
      h("td", {}, s.keys.flatMap((k, i) => [i ? " " : null, h("kbd", {}, k)])),
      h("td", {}, s.help)))));
}
