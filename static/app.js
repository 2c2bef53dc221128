// The inbox: wires the mailboxes, the list, the message view, live events, search, keys
// and theme.

import * as api from "./api.js";
import { h, icon, plural, refreshTimes, shortAddress } from "./dom.js";
import { connect } from "./events.js";
import { FaultBanner, showSessions } from "./faults.js";
import { bindKeys, helpTable } from "./keyboard.js";
import { MessageList } from "./list.js";
import { MessageView } from "./message.js";

const $ = (selector) => document.querySelector(selector);
const narrow = window.matchMedia("(max-width: 760px)");

// The mailbox on show: null for All mail (undefined until the first route).
let scope;

const list = new MessageList({
  root: $("#list"),
  status: $("#list-status"),
  pager: { root: $("#pager"), newer: $("#page-newer"), older: $("#page-older"), info: $("#page-info") },
  banner: $("#new-banner"),
  href: (id) => hashFor(scope, id),
  onLoaded: () => updateActions(),
});
const view = new MessageView($("#message-pane"), {
  onBack: () => closeMessage(),
  onDelete: (id) => deleteOne(id),
  onRead: (id, read) => markRead(id, read),
});

// -- routing: #/ is All mail, #/box/NAME a mailbox; /m/ID after either the open message --

/** {mailbox, id} from an address: mailbox null for All mail, id null when none is open. */
function parseHash(hash = location.hash) {
  const box = /^#\/box\/([^/]*)(?:\/m\/(\d{1,18}))?\/?$/.exec(hash);
  if (box) {
    let name = box[1];
    try {
      name = decodeURIComponent(name);
    } catch {
      // shown as it is: not a mailbox name either way
    }
    return { mailbox: name === "" ? null : name.slice(0, 200), id: box[2] ? Number(box[2]) : null };
  }
  const message = /^#\/m\/(\d{1,18})$/.exec(hash);
  return { mailbox: null, id: message ? Number(message[1]) : null };
}

function hashFor(mailbox, id = null) {
  if (mailbox === null || mailbox === undefined) return id === null ? "#/" : `#/m/${id}`;
  const box = `#/box/${encodeURIComponent(mailbox)}`;
  return id === null ? box : `${box}/m/${id}`;
}

function navigate(id, { replace = false } = {}) {
  const hash = hashFor(scope, id);
  if (location.hash === hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    route();
  } else {
    location.hash = hash;
  }
}

function route() {
  const { mailbox, id } = parseHash();
  const moved = mailbox !== scope;
  if (moved) setScope(mailbox);
  if (id === null) showList();
  else if (moved || id !== view.id || !view.message) openMessage(id);
}

async function openMessage(id) {
  document.body.classList.add("reading");
  list.setOpen(id);
  const message = await view.open(id, scope);
  if (!message || view.id !== id) return;
  if (narrow.matches) view.focusHeading();
  // Only opening a message marks it read.
  list.markRead(id, true);
  view.setRead(true);
  api.setRead(id, true).catch(() => {}).finally(() => scheduleCounts());
}

function showList(note) {
  document.body.classList.remove("reading");
  const hadFocus = $("#message-pane").contains(document.activeElement);
  list.setOpen(null);
  if (note) view.showEmpty(note);
  else if (view.message || !$("#message-pane .placeholder")) view.showEmpty();
  if (hadFocus || narrow.matches) list.focusCursor();
}

function closeMessage(note) {
  if (parseHash().id !== null) history.replaceState(null, "", hashFor(scope));
  showList(note);
}

// -- mailboxes: the one on show, the switcher, the counts ---------------------------------

/** Show a mailbox (null: All mail): the list, its event stream, the switcher, the counts. */
function setScope(mailbox) {
  scope = mailbox;
  closeBoxStream();
  list.setMailbox(mailbox);
  $("#list-heading").textContent = mailbox ?? "All mail";
  renderCounts();
  updateActions();
  if (mailbox === null) {
    // The All-mail stream is always open; until it says hello, its hello loads the list.
    setConnection(overviewState);
    if (overviewState !== "connecting") list.load();
  } else if (!api.MAILBOX_NAME.test(mailbox)) {
    setConnection(overviewState);
    list.showMissing();
  } else {
    openBoxStream(mailbox);
  }
  scheduleCounts(0);
}

let counts = { all: null, boxes: [] };
let countsTimer = 0;
let countsBusy = false;
let countsAgain = false;

/**
 * Refresh the counts soon: at most one round of requests per delay, and never two at
 * once, however fast events come. Nothing runs while nothing happens.
 */
function scheduleCounts(delay = 150) {
  if (countsBusy) {
    countsAgain = true;
    return;
  }
  if (countsTimer) return;
  countsTimer = setTimeout(refreshCounts, delay);
}

async function refreshCounts() {
  countsTimer = 0;
  countsBusy = true;
  try {
    const boxes = await api.mailboxes(); // All mail's counts come with the mailboxes'
    counts = { all: boxes.all, boxes: boxes.mailboxes };
    renderCounts();
  } catch {
    // offline: the next event or hello refreshes them
  } finally {
    countsBusy = false;
    if (countsAgain) {
      countsAgain = false;
      scheduleCounts();
    }
  }
}

/** The switcher's entries: All mail, then every mailbox in the order they were made. */
function switcherEntries() {
  return [
    { name: null, label: "All mail", unread: counts.all?.unread ?? 0, messages: counts.all?.messages ?? 0 },
    ...counts.boxes.map((box) => ({
      name: box.name, label: box.name, unread: box.unread, messages: box.messages, origin: box.routing?.origin,
    })),
  ];
}

const ORIGINS = {
  api: "made through the API",
  login: "made by an SMTP login",
  tag: "made by a plus tag",
  default: "mail no rule routes",
};

function renderCounts() {
  const entries = switcherEntries();
  renderSidebar(entries);
  renderSelect(entries);
  const current = entries.find((entry) => entry.name === scope);
  const unread = current?.unread ?? 0;
  const where = scope === null || scope === undefined ? "" : `${scope} · `;
  document.title = unread ? `(${unread}) ${where}catcher` : `${where}catcher`;
  const badge = $("#unread");
  badge.textContent = `${unread.toLocaleString()} unread`;
  badge.hidden = unread === 0;
}

const boxesRoot = $("#boxes");
const sidebarItems = new Map(); // "" for All mail, else "box:" + name -> {li, link, count, spoken}

function itemKey(name) {
  return name === null ? "" : `box:${name}`;
}

function sidebarItem(entry) {
  const count = h("span", { class: "box-count" });
  const spoken = h("span", { class: "visually-hidden" }, " unread");
  const link = h("a", {
    class: entry.name === null ? "box all" : "box",
    href: hashFor(entry.name),
    dataset: entry.name === null ? {} : { name: entry.name },
  }, icon(entry.name === null ? "inbox" : "folder"), h("span", { class: "box-name" }, entry.label), count, spoken);
  return { li: h("li", {}, link), link, count, spoken };
}

/** Update the sidebar in place (focus and scroll stay where they are). */
function renderSidebar(entries) {
  const wanted = new Set(entries.map((entry) => itemKey(entry.name)));
  for (const [key, item] of sidebarItems) {
    if (!wanted.has(key)) {
      item.li.remove();
      sidebarItems.delete(key);
    }
  }
  let before = boxesRoot.firstChild;
  for (const entry of entries) {
    const key = itemKey(entry.name);
    let item = sidebarItems.get(key);
    if (!item) {
      item = sidebarItem(entry);
      sidebarItems.set(key, item);
    }
    if (item.li !== before) boxesRoot.insertBefore(item.li, before);
    before = item.li.nextSibling;
    item.count.textContent = entry.unread ? entry.unread.toLocaleString() : "";
    item.count.hidden = item.spoken.hidden = !entry.unread;
    const origin = entry.origin ? ` (${ORIGINS[entry.origin] ?? entry.origin})` : "";
    item.link.title = `${entry.label}${origin}: ${plural(entry.messages, "message")}, ${entry.unread.toLocaleString()} unread`;
    if (entry.name === scope) item.link.setAttribute("aria-current", "page");
    else item.link.removeAttribute("aria-current");
  }
}

const boxSelect = $("#box-select");
function renderSelect(entries) {
  const options = entries.map((entry) => [entry.name ?? "", `${entry.label}${entry.unread ? ` (${entry.unread.toLocaleString()})` : ""}`]);
  if (scope !== null && scope !== undefined && !entries.some((entry) => entry.name === scope)) {
    options.push([scope, `${scope} (not found)`]);
  }
  const same = options.length === boxSelect.options.length
    && options.every(([value], i) => boxSelect.options[i].value === value);
  if (!same) boxSelect.replaceChildren(...options.map(([value]) => h("option", { value })));
  options.forEach(([, text], i) => {
    if (boxSelect.options[i].textContent !== text) boxSelect.options[i].textContent = text;
  });
  boxSelect.value = scope ?? "";
}
boxSelect.addEventListener("change", () => {
  location.hash = hashFor(boxSelect.value === "" ? null : boxSelect.value);
});

/** m / Shift+M: the next or previous entry of the switcher. */
function stepMailbox(direction) {
  const names = switcherEntries().map((entry) => entry.name);
  const index = names.indexOf(scope);
  const next = index < 0 ? null : names[(index + direction + names.length) % names.length];
  const hash = hashFor(next);
  if (location.hash !== hash) location.hash = hash;
}

// -- actions --------------------------------------------------------------------------

async function markRead(id, read) {
  try {
    await api.setRead(id, read);
  } catch (error) {
    announce(`Could not change message ${id}: ${error.message}`);
    return;
  }
  list.markRead(id, read);
  if (view.id === id) view.setRead(read);
  scheduleCounts();
}

async function deleteOne(id) {
  if (id === null || id === undefined) return;
  const wasOpen = view.id === id;
  const listHadFocus = $("#list").contains(document.activeElement);
  try {
    await api.deleteMessage(id, scope);
  } catch (error) {
    if (error.status !== 404) {
      announce(`Could not delete message ${id}: ${error.message}`);
      return;
    }
  }
  list.removed([id]);
  announce(`Message ${id} deleted.`);
  if (wasOpen) closeMessage("Message deleted. Press Enter to open the next one.");
  if (wasOpen || listHadFocus) list.focusCursor();
  scheduleCounts();
}

/** The bulk buttons say what they act on: all or the matching, here or everywhere. */
function updateActions() {
  const filtered = api.hasFilters(list.filters);
  const where = scope === null ? "" : ` in ${scope}`;
  $("#delete-all .label").textContent = filtered ? "Delete matching" : "Delete all";
  $("#delete-all").title = `${filtered ? "Delete the matching messages" : "Delete all messages"}${where} (Shift+Delete)`;
  $("#export-mbox").href = api.exportUrl(list.filters, scope);
  $("#export-mbox").title = `${filtered ? "Download the matching messages" : "Download all messages"}${where} as an mbox file`;
  $("#mark-all-read .label").textContent = filtered ? "Mark matching read" : "Mark all read";
  $("#mark-all-read").title = `${filtered ? "Mark the matching messages read" : "Mark all read"}${where} (Shift+I)`;
}

const confirmDialog = $("#confirm-dialog");
async function deleteAll() {
  const filtered = api.hasFilters(list.filters);
  const count = filtered ? list.matched : list.total;
  if (!count || list.missing) return;
  const mailbox = scope;
  const box = mailbox === null ? null : h("span", { class: "box-ref" }, mailbox);
  if (mailbox === null) {
    $("#confirm-title").textContent = filtered ? "Delete the matching messages?" : "Delete all messages?";
    $("#confirm-text").textContent = filtered
      ? `${plural(count, "message")} match the current search. They will be deleted; this cannot be undone.`
      : `All ${plural(count, "message")} will be deleted. This cannot be undone.`;
  } else {
    $("#confirm-title").replaceChildren(filtered ? "Delete the matching messages in " : "Delete all messages in ", box, "?");
    const which = filtered
      ? `${plural(count, "message")} in this mailbox ${count === 1 ? "matches" : "match"} the current search and will be deleted from it`
      : `${count === 1 ? "The one message" : `All ${plural(count, "message")}`} in this mailbox will be deleted from it`;
    const elsewhere = count === 1 ? "if it is also in another mailbox, it stays there" : "any that are also in another mailbox stay there";
    $("#confirm-text").textContent = `${which}; ${elsewhere}. This cannot be undone.`;
  }
  confirmDialog.returnValue = "";
  confirmDialog.showModal();
  const answer = await new Promise((resolve) =>
    confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue), { once: true }));
  if (answer !== "delete" || scope !== mailbox) return;
  try {
    const result = await api.deleteMatching(list.filters, mailbox);
    announce(`${plural(result.deleted, "message")} deleted.`);
  } catch (error) {
    announce(`Could not delete: ${error.message}`);
  }
  if (view.message) closeMessage();
  await list.reset();
  scheduleCounts();
}
$("#confirm-cancel").addEventListener("click", () => confirmDialog.close("cancel"));
$("#confirm-ok").addEventListener("click", () => confirmDialog.close("delete"));
$("#delete-all").addEventListener("click", deleteAll);

/** Mark every message of the list (this mailbox, this search) read, in one request. */
async function markAllRead() {
  if (list.missing) return;
  let result;
  try {
    result = await api.markAllRead(list.filters, scope);
  } catch (error) {
    announce(`Could not mark messages read: ${error.message}`);
    return;
  }
  announce(result.changed ? `${plural(result.changed, "message")} marked read.` : "No unread messages here.");
  // The read event marks the rows (and the open message) too; the reload is for a stream
  // that is down.
  if (result.changed) list.load();
  scheduleCounts(0);
}
$("#mark-all-read").addEventListener("click", markAllRead);

// -- search -----------------------------------------------------------------------------

const search = $("#search");
let searchTimer = 0;
function applySearch() {
  clearTimeout(searchTimer);
  const filters = api.parseSearch(search.value);
  if (JSON.stringify(filters) === JSON.stringify(list.filters)) return;
  list.setFilters(filters);
  updateActions();
}
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applySearch, 200);
});
$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  applySearch();
  list.focusCursor();
});

// -- announcements -----------------------------------------------------------------------------

// Screen-reader announcements, gathered so a burst of mail is one sentence, not fifty.
let announceTimer = 0;
let announcements = [];
function announce(text) {
  announcements.push(text);
  if (announceTimer) return;
  announceTimer = setTimeout(() => {
    announceTimer = 0;
    $("#announcer").textContent = announcements.length > 3
      ? `${announcements.length} updates.` : announcements.join(" ");
    announcements = [];
  }, 500);
}

// -- live events ---------------------------------------------------------------------------

function setConnection(state) {
  const el = $("#conn");
  el.dataset.state = state;
  el.querySelector(".conn-text").textContent =
    state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Offline – retrying";
  el.title = state === "live" ? "New mail appears as it arrives" : "Reconnecting to catcher";
}

/** An event of the stream the list follows (All mail's, or the open mailbox's). */
function listEvent(kind, data) {
  switch (kind) {
    case "hello":
      // The list's one load at start, and its catch-up after a reconnect. Loading after
      // the stream opened leaves no gap: mail stored since then comes as events too.
      list.load();
      scheduleCounts(0);
      break;
    case "message":
      list.added(data);
      notify(data);
      announce(`New message from ${shortAddress(data.from) || data.envelope.mail_from || "unknown sender"}.`);
      scheduleCounts();
      break;
    case "delete":
      list.removed(data.ids);
      if (data.ids.includes(view.id)) closeMessage(`Message ${view.id} was deleted.`);
      scheduleCounts();
      break;
    case "clear":
      if (view.message) closeMessage("All messages were deleted.");
      list.reset();
      scheduleCounts();
      break;
    case "read": {
      const ids = data.ids ?? [data.id];
      for (const id of ids) list.markRead(id, data.read);
      if (ids.includes(view.id)) view.setRead(data.read);
      scheduleCounts();
      break;
    }
    case "mailbox":
      scheduleCounts();
      if (scope === null || data.name !== scope) break;
      if (!data.exists) {
        if (view.message) closeMessage();
        list.showMissing(["Mailbox ", h("span", { class: "box-ref" }, scope), " was deleted."]);
      } else if (list.missing) {
        list.load();
      }
      break;
    case "reset":
      list.load();
      scheduleCounts(0);
      break;
    default:
      break;
  }
}

// -- fault rules and the SMTP log ------------------------------------------------------------

const faultBanner = new FaultBanner({
  root: $("#fault-banner"),
  text: $("#fault-text"),
  list: $("#fault-rules"),
  clearButton: $("#fault-clear"),
});
$("#sessions-button").addEventListener("click", () => showSessions($("#sessions-dialog"), $("#sessions-body")));
$("#sessions-close").addEventListener("click", () => $("#sessions-dialog").close());

let boxToken = null; // the mailbox stream's identity while one is open
let closeBox = null;

// All mail's stream stays open all the time: it drives the list on All mail, and keeps
// the switcher's counts live whichever mailbox is on show.
let overviewState = "connecting";
connect({
  onStatus(state) {
    overviewState = state;
    if (boxToken !== null) return; // the mailbox's own stream speaks for the list
    setConnection(state);
    // No stream yet: show the mail anyway; the stream's hello reloads when it opens.
    if (state === "offline" && scope === null && !list.loaded) list.load();
  },
  onEvent(kind, data) {
    if (kind === "faults" || kind === "hello") faultBanner.refresh();
    if (scope === null) listEvent(kind, data);
    else if (kind !== "heartbeat") scheduleCounts(kind === "hello" ? 0 : 150);
  },
});

// A mailbox's stream: only its changes, while it is on show.
function openBoxStream(mailbox) {
  const token = {};
  boxToken = token;
  setConnection("connecting");
  closeBox = connect({
    mailbox,
    onStatus(state) {
      if (boxToken !== token) return;
      setConnection(state);
      if (state === "offline" && !list.loaded && !list.missing) list.load();
    },
    onEvent(kind, data) {
      if (boxToken === token) listEvent(kind, data);
    },
  });
}

function closeBoxStream() {
  boxToken = null;
  closeBox?.();
  closeBox = null;
}

// -- desktop notifications ----------------------------------------------------------------------

const NOTIFY_KEY = "catcher.notify";
const notifyButton = $("#notify-toggle");
let notifyOn = false;
try {
  notifyOn = "Notification" in window && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "1";
} catch {
  notifyOn = false;
}

function renderNotify() {
  notifyButton.setAttribute("aria-pressed", String(notifyOn));
  notifyButton.title = notifyOn ? "Desktop notifications are on" : "Turn on desktop notifications";
  notifyButton.querySelector("use").setAttribute("href", notifyOn ? "#i-bell" : "#i-bell-off");
}

notifyButton.addEventListener("click", async () => {
  if (!("Notification" in window)) {
    announce("This browser has no desktop notifications.");
    return;
  }
  if (notifyOn) notifyOn = false;
  else notifyOn = (await Notification.requestPermission()) === "granted";
  try {
    localStorage.setItem(NOTIFY_KEY, notifyOn ? "1" : "0");
  } catch {
    // not remembered
  }
  renderNotify();
});
if (!("Notification" in window)) notifyButton.hidden = true;
renderNotify();

function notify(summary) {
  if (!notifyOn || !document.hidden) return;
  const note = new Notification(shortAddress(summary.from) || summary.envelope.mail_from || "New message", {
    body: summary.subject || "(no subject)",
    tag: "catcher-new-mail",
    icon: new URL("icon.svg", import.meta.url).pathname,
  });
  note.addEventListener("click", () => {
    window.focus();
    navigate(summary.id);
    note.close();
  });
}

// -- theme: system, light or dark -------------------------------------------------------------

const THEMES = ["system", "light", "dark"];
const themeButton = $("#theme-toggle");
function currentTheme() {
  return document.documentElement.dataset.theme ?? "system";
}
function renderTheme() {
  const theme = currentTheme();
  const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  themeButton.querySelector("use").setAttribute("href", `#i-${theme === "system" ? "monitor" : theme === "light" ? "sun" : "moon"}`);
  themeButton.setAttribute("aria-label", `Theme: ${theme}. Switch to ${next}`);
  themeButton.title = `Theme: ${theme} (click for ${next})`;
}
themeButton.addEventListener("click", () => {
  const theme = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === "system") localStorage.removeItem("catcher.theme");
    else localStorage.setItem("catcher.theme", theme);
  } catch {
    // not remembered
  }
  renderTheme();
});
renderTheme();

// -- help and keyboard --------------------------------------------------------------------------

const helpDialog = $("#help-dialog");
$("#help-body").append(helpTable());
$("#help-button").addEventListener("click", () => helpDialog.showModal());
$("#help-close").addEventListener("click", () => helpDialog.close());
for (const dialog of [helpDialog, confirmDialog]) {
  // A click on the backdrop (the dialog element itself, outside its box) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close("cancel");
  });
}

function selectedId() {
  if (narrow.matches && document.body.classList.contains("reading")) return view.id;
  return list.cursorId ?? view.id;
}

function moveBy(delta) {
  const reading = view.message !== null && document.body.classList.contains("reading");
  const id = list.move(delta);
  if (reading && id !== null && id !== view.id) navigate(id, { replace: true });
}

bindKeys({
  next: () => moveBy(1),
  previous: () => moveBy(-1),
  open: () => {
    const id = list.cursorId ?? list.rows[0]?.id;
    if (id !== undefined && id !== null) navigate(id);
  },
  back: () => {
    if (document.body.classList.contains("reading")) closeMessage();
    else if (search.value) {
      search.value = "";
      applySearch();
    }
  },
  delete: () => deleteOne(selectedId()),
  deleteAll,
  toggleRead: () => {
    const id = selectedId();
    if (id === null) return;
    const read = list.get(id)?.read ?? view.message?.read ?? false;
    markRead(id, !read);
  },
  markAllRead,
  mailbox: (direction) => stepMailbox(direction),
  search: () => {
    search.focus();
    search.select();
  },
  leaveSearch: () => {
    applySearch();
    list.focusCursor();
    if (document.activeElement === search) search.blur();
  },
  tab: (index) => view.selectTabAt(index),
  remote: () => view.toggleRemote(),
  first: () => list.first(),
  page: (direction) => list.page(direction),
  help: () => helpDialog.showModal(),
});

// -- start --------------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
narrow.addEventListener("change", () => list.syncCursor());
setInterval(() => refreshTimes(), 30_000);
// The list loads when its event stream says hello (above), not here as well.
route();
document.documentElement.classList.add("ready");
