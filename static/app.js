// The inbox: wires the list, the message view, live events, search, keys and theme.

import * as api from "./api.js";
import { plural, refreshTimes, shortAddress } from "./dom.js";
import { connect } from "./events.js";
import { bindKeys, helpTable } from "./keyboard.js";
import { MessageList } from "./list.js";
import { MessageView } from "./message.js";

const $ = (selector) => document.querySelector(selector);
const narrow = window.matchMedia("(max-width: 760px)");

const list = new MessageList({
  root: $("#list"),
  status: $("#list-status"),
  pager: { root: $("#pager"), newer: $("#page-newer"), older: $("#page-older"), info: $("#page-info") },
  banner: $("#new-banner"),
  onLoaded: () => updateDeleteAll(),
});
const view = new MessageView($("#message-pane"), {
  onBack: () => closeMessage(),
  onDelete: (id) => deleteOne(id),
  onRead: (id, read) => markRead(id, read),
});

// -- routing: #/m/<id> is the open message --------------------------------------------

function messageIdFromHash() {
  const match = /^#\/m\/(\d{1,18})$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

function navigate(id, { replace = false } = {}) {
  const hash = id === null ? "#/" : `#/m/${id}`;
  if (location.hash === hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    route();
  } else {
    location.hash = hash;
  }
}

function route() {
  const id = messageIdFromHash();
  if (id === null) showList();
  else if (id !== view.id || !view.message) openMessage(id);
}

async function openMessage(id) {
  document.body.classList.add("reading");
  list.setOpen(id);
  const message = await view.open(id);
  if (!message || view.id !== id) return;
  if (narrow.matches) view.focusHeading();
  // Only opening a message marks it read.
  list.markRead(id, true);
  view.setRead(true);
  api.setRead(id, true).catch(() => {}).finally(() => scheduleStats());
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
  if (messageIdFromHash() !== null) history.replaceState(null, "", "#/");
  showList(note);
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
  scheduleStats();
}

async function deleteOne(id) {
  if (id === null || id === undefined) return;
  const wasOpen = view.id === id;
  const listHadFocus = $("#list").contains(document.activeElement);
  try {
    await api.deleteMessage(id);
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
  scheduleStats();
}

const confirmDialog = $("#confirm-dialog");
function updateDeleteAll() {
  const filtered = api.hasFilters(list.filters);
  $("#delete-all .label").textContent = filtered ? "Delete matching" : "Delete all";
}

async function deleteAll() {
  const filtered = api.hasFilters(list.filters);
  const count = filtered ? list.matched : list.total;
  if (!count) return;
  $("#confirm-title").textContent = filtered ? "Delete the matching messages?" : "Delete all messages?";
  $("#confirm-text").textContent = filtered
    ? `${plural(count, "message")} match the current search. They will be deleted; this cannot be undone.`
    : `All ${plural(count, "message")} will be deleted. This cannot be undone.`;
  confirmDialog.returnValue = "";
  confirmDialog.showModal();
  const answer = await new Promise((resolve) =>
    confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue), { once: true }));
  if (answer !== "delete") return;
  try {
    const result = await api.deleteMatching(list.filters);
    announce(`${plural(result.deleted, "message")} deleted.`);
  } catch (error) {
    announce(`Could not delete: ${error.message}`);
  }
  if (view.message) closeMessage();
  await list.reset();
  scheduleStats();
}
$("#confirm-cancel").addEventListener("click", () => confirmDialog.close("cancel"));
$("#confirm-ok").addEventListener("click", () => confirmDialog.close("delete"));
$("#delete-all").addEventListener("click", deleteAll);

// -- search -----------------------------------------------------------------------------

const search = $("#search");
let searchTimer = 0;
function applySearch() {
  clearTimeout(searchTimer);
  const filters = api.parseSearch(search.value);
  if (JSON.stringify(filters) === JSON.stringify(list.filters)) return;
  list.setFilters(filters);
  updateDeleteAll();
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

// -- unread count, title, announcements ----------------------------------------------------

let statsTimer = 0;
/** Refresh the counts soon: at most once per delay, even while mail floods in. */
function scheduleStats(delay = 150) {
  if (statsTimer) return;
  statsTimer = setTimeout(() => {
    statsTimer = 0;
    updateStats();
  }, delay);
}

async function updateStats() {
  let stats;
  try {
    stats = await api.stats();
  } catch {
    return;
  }
  const unread = stats.unread;
  document.title = unread ? `(${unread}) catcher` : "catcher";
  const badge = $("#unread");
  badge.textContent = `${unread.toLocaleString()} unread`;
  badge.hidden = unread === 0;
}

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

connect({
  onStatus(state) {
    setConnection(state);
    // No stream yet: show the mail anyway; the stream's hello reloads when it opens.
    if (state === "offline" && !list.loaded) list.load();
  },
  onEvent(kind, data) {
    switch (kind) {
      case "hello":
        // The list's one load at start, and its catch-up after a reconnect. Loading after
        // the stream opened leaves no gap: mail stored since then comes as events too.
        list.load();
        scheduleStats(0);
        break;
      case "message":
        list.added(data);
        notify(data);
        announce(`New message from ${shortAddress(data.from) || data.envelope.mail_from || "unknown sender"}.`);
        scheduleStats();
        break;
      case "delete":
        list.removed(data.ids);
        if (data.ids.includes(view.id)) closeMessage(`Message ${view.id} was deleted.`);
        scheduleStats();
        break;
      case "clear":
        if (view.message) closeMessage("All messages were deleted.");
        list.reset();
        scheduleStats();
        break;
      case "read":
        list.markRead(data.id, data.read);
        if (view.id === data.id) view.setRead(data.read);
        scheduleStats();
        break;
      case "reset":
        list.load();
        scheduleStats(0);
        break;
      default:
        break;
    }
  },
});

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
    icon: "/static/icon.svg",
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
// The list loads when the event stream says hello (above), not here as well.
route();
scheduleStats(0);
document.documentElement.classList.add("ready");
