// The message list: one page of summaries, newest first, a cursor, live updates.

import * as api from "./api.js";
import { clear, formatSize, h, icon, plural, shortAddress, timeEl } from "./dom.js";

export const PAGE_SIZE = 50;

export class MessageList {
  constructor({ root, status, pager, banner, href, onLoaded }) {
    this.root = root;
    this.status = status;
    this.pager = pager;
    this.banner = banner;
    this.href = href; // message id -> the link that opens it in the current mailbox
    this.onLoaded = onLoaded ?? (() => {});
    this.mailbox = null; // null: All mail
    this.missing = false; // the mailbox does not exist (yet)
    this.filters = {};
    this.offset = 0;
    this.total = 0;
    this.matched = 0;
    this.rows = [];
    this.elements = new Map();
    this.cursorId = null;
    this.openId = null;
    this.unseenNew = 0;
    this.newestSeen = 0;
    this.loaded = false;
    this.loadSeq = 0;
    this.reloadTimer = 0;
    this.pending = [];
    this.flushTimer = 0;

    root.addEventListener("click", (event) => {
      const row = event.target.closest("a.row");
      if (row) this.setCursor(Number(row.dataset.id));
    });
    root.addEventListener("focusin", (event) => {
      const row = event.target.closest("a.row");
      if (row) this.setCursor(Number(row.dataset.id));
    });
    pager.newer.addEventListener("click", () => this.page(-1));
    pager.older.addEventListener("click", () => this.page(1));
    banner.addEventListener("click", () => this.reset());
  }

  // -- loading ---------------------------------------------------------------------

  /**
   * Show another mailbox (null: All mail). The rows go at once, busy until the next load,
   * which the caller starts (once the mailbox's event stream is open, so nothing is missed).
   */
  setMailbox(mailbox) {
    this.mailbox = mailbox;
    this.missing = false;
    this.offset = 0;
    this.total = 0;
    this.matched = 0;
    this.rows = [];
    this.cursorId = null;
    this.openId = null;
    this.unseenNew = 0;
    this.newestSeen = 0;
    this.loaded = false;
    this.loadSeq += 1; // an answer for the mailbox before is dropped
    clearTimeout(this.reloadTimer);
    this.reloadTimer = 0;
    clearTimeout(this.flushTimer);
    this.flushTimer = 0;
    this.pending = [];
    this.elements.clear();
    clear(this.root);
    this.root.setAttribute("aria-busy", "true");
    this.pager.root.hidden = true;
    this.banner.hidden = true;
    this.status.textContent = "";
  }

  setFilters(filters) {
    this.filters = filters;
    this.offset = 0;
    this.unseenNew = 0;
    return this.load();
  }

  async load() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = 0;
    const seq = ++this.loadSeq;
    this.root.setAttribute("aria-busy", "true");
    let page;
    try {
      page = await api.listMessages(this.filters, { limit: PAGE_SIZE, offset: this.offset, mailbox: this.mailbox });
    } catch (error) {
      if (seq === this.loadSeq) this.showError(error);
      return;
    } finally {
      if (seq === this.loadSeq) this.root.removeAttribute("aria-busy");
    }
    if (seq !== this.loadSeq) return;
    if (page.messages.length === 0 && this.offset > 0 && page.matched > 0) {
      // The page emptied under us (deletions): step back to the last page that has mail.
      this.offset = Math.max(0, Math.floor((page.matched - 1) / PAGE_SIZE) * PAGE_SIZE);
      return this.load();
    }
    const cursorIndex = this.indexOf(this.cursorId);
    this.missing = false;
    this.total = page.total;
    this.matched = page.matched;
    this.rows = page.messages;
    if (this.offset === 0) this.unseenNew = 0;
    if (this.cursorId !== null && this.indexOf(this.cursorId) < 0) {
      const keep = Math.min(Math.max(cursorIndex, 0), this.rows.length - 1);
      this.cursorId = keep >= 0 ? this.rows[keep].id : null;
    }
    this.loaded = true;
    this.render();
    this.onLoaded(this);
    // Mail that arrived while the page was on its way: fetch again.
    if (this.offset === 0 && !api.hasFilters(this.filters) && this.newestSeen > (this.rows[0]?.id ?? 0)) {
      this.reloadSoon();
    }
  }

  /** Reload soon: at most once per delay however many events ask, even in a flood. */
  reloadSoon(delay = 200) {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => this.load(), delay);
  }

  page(direction) {
    const next = this.offset + direction * PAGE_SIZE;
    if (next < 0 || next >= this.matched) return false;
    this.offset = next;
    this.cursorId = null;
    this.load().then(() => this.focusCursor());
    return true;
  }

  /** Back to the first page and reload it (after a clear, or to see the newest mail). */
  reset() {
    // A cursor from another page means nothing on the first; on the first, load() keeps it
    // where it was (or on the row that took its place).
    if (this.offset !== 0) this.cursorId = null;
    this.offset = 0;
    return this.load();
  }

  // -- rendering -----------------------------------------------------------------------

  render() {
    this.elements.clear();
    const items = this.rows.map((summary) => this.rowEl(summary));
    clear(this.root).append(...items);
    if (!this.rows.length) this.root.append(this.emptyEl());
    this.syncCursor();
    this.renderStatus();
  }

  emptyEl() {
    if (api.hasFilters(this.filters)) {
      return h("li", { class: "empty-list" }, h("p", {}, "No messages match this search."),
        h("p", { class: "muted" }, "Search looks at addresses, subjects, bodies and attachment names."));
    }
    if (this.mailbox !== null) {
      return h("li", { class: "empty-list" }, icon("folder", "icon big"), h("p", {}, "No mail in ",
        h("span", { class: "box-ref" }, this.mailbox), " yet."),
      h("p", { class: "muted" }, "Mail routed to this mailbox shows up here as it arrives."));
    }
    return h("li", { class: "empty-list" }, icon("inbox", "icon big"), h("p", {}, "No mail yet."),
      h("p", { class: "muted" }, "Point your application's SMTP settings at catcher; mail shows up here as it arrives."));
  }

  rowEl(m) {
    const defects = m.defect_count ?? 0;
    const from = m.from ? shortAddress(m.from) : m.envelope.mail_from || "(no sender)";
    const recipients = [...m.to, ...m.cc].map(shortAddress);
    const more = (m.to_count ?? m.to.length) + (m.cc_count ?? m.cc.length) - recipients.length;
    const listed = recipients.length ? recipients : m.envelope.rcpt_to;
    const extra = recipients.length ? more : (m.envelope.rcpt_count ?? listed.length) - listed.length;
    const to = listed.join(", ") + (extra > 0 ? ` +${extra} more` : "");
    const li = h("li", { class: "item" });
    const a = h(
      "a",
      {
        class: `row${m.read ? "" : " unread"}`,
        href: this.href(m.id),
        tabindex: "-1",
        dataset: { id: m.id },
      },
      h("span", { class: "dot", title: m.read ? null : "Unread" }, h("span", { class: "visually-hidden" }, m.read ? "" : "Unread. ")),
      h("span", { class: "from", title: m.from ? m.from.address : null }, from),
      timeEl(m.received_at),
      h("span", { class: "subject" }, m.subject || "(no subject)"),
      h(
        "span",
        { class: "meta" },
        m.attachments
          ? h("span", { class: "clip", title: plural(m.attachments, "attachment") }, icon("paperclip"),
              h("span", { class: "visually-hidden" }, `${plural(m.attachments, "attachment")}, `))
          : null,
        defects ? h("span", { class: "defect-mark", title: plural(defects, "parsing problem") }, icon("warning")) : null,
        h("span", { class: "size" }, formatSize(m.size)),
      ),
      h("span", { class: "line3" }, h("span", { class: "to" }, "To ", to || "(nobody)"),
        m.snippet ? h("span", { class: "snippet" }, m.snippet) : null),
    );
    li.append(a);
    this.elements.set(m.id, a);
    return li;
  }

  renderStatus() {
    const filtered = api.hasFilters(this.filters);
    const first = this.rows.length ? this.offset + 1 : 0;
    const last = this.offset + this.rows.length;
    const range = this.rows.length ? `${first.toLocaleString()}–${last.toLocaleString()} of ` : "";
    this.pager.info.textContent = filtered
      ? `${range}${plural(this.matched, "match", "matches")}`
      : `${range}${plural(this.total, "message")}`;
    this.pager.newer.disabled = this.offset === 0;
    this.pager.older.disabled = last >= this.matched;
    this.pager.root.hidden = this.matched <= PAGE_SIZE && this.offset === 0;
    this.status.textContent = filtered
      ? `${plural(this.matched, "match", "matches")} of ${this.total.toLocaleString()}`
      : plural(this.total, "message");
    this.banner.hidden = this.unseenNew === 0;
    this.banner.textContent = `${plural(this.unseenNew, "new message")} – show newest`;
  }

  showError(error) {
    if (error.status === 404 && this.mailbox !== null) {
      this.showMissing();
      return;
    }
    clear(this.root).append(h("li", { class: "empty-list error" }, h("p", {}, "Could not load messages."),
      h("p", { class: "muted" }, error.message)));
  }

  /**
   * The mailbox is not there (a deep link to one never made, or one just deleted). Mail
   * that routes to it makes it: its first message reloads the list (see added).
   */
  showMissing(headline = null) {
    const name = this.mailbox;
    this.missing = true;
    this.loaded = false;
    this.loadSeq += 1; // a reload on its way would answer for a mailbox that is gone
    clearTimeout(this.reloadTimer);
    this.reloadTimer = 0;
    this.rows = [];
    this.elements.clear();
    this.total = this.matched = 0;
    this.root.removeAttribute("aria-busy");
    this.pager.root.hidden = true;
    this.banner.hidden = true;
    this.status.textContent = "";
    const valid = api.MAILBOX_NAME.test(name);
    clear(this.root).append(h("li", { class: "empty-list missing", role: "status" },
      icon("warning", "icon big"),
      h("p", { class: "missing-title" }, headline ?? (valid
        ? ["There is no mailbox ", h("span", { class: "box-ref" }, name), "."]
        : ["“", h("span", { class: "box-ref" }, name), "” is not a mailbox name."])),
      h("p", { class: "muted" }, valid
        ? ["Mail sent with the SMTP login ", h("span", { class: "mono" }, name), " or to an address like ",
            h("span", { class: "mono" }, `someone+${name}@example.com`), " makes it; it shows here when it arrives."]
        : "Mailbox names are 1 to 64 letters, digits, dots, dashes and underscores."),
      h("p", {}, h("a", { href: "#/" }, "Show all mail"))));
  }

  // -- cursor and open message ---------------------------------------------------------

  indexOf(id) {
    return id === null ? -1 : this.rows.findIndex((m) => m.id === id);
  }

  get(id) {
    return this.rows.find((m) => m.id === id) ?? null;
  }

  setCursor(id, { focus = false } = {}) {
    this.cursorId = id;
    this.syncCursor();
    if (focus) this.focusCursor();
  }

  setOpen(id) {
    this.openId = id;
    if (id !== null) this.cursorId = id;
    this.syncCursor();
  }

  syncCursor() {
    let cursor = this.elements.get(this.cursorId) ?? null;
    for (const [id, el] of this.elements) {
      el.classList.toggle("cursor", id === this.cursorId);
      el.classList.toggle("open", id === this.openId);
      if (id === this.openId) el.setAttribute("aria-current", "true");
      else el.removeAttribute("aria-current");
      el.tabIndex = -1;
    }
    // Roving tab stop: Tab enters the list once, at the cursor (or the first row).
    cursor ??= this.elements.values().next().value ?? null;
    if (cursor) cursor.tabIndex = 0;
  }

  focusCursor() {
    const el = this.elements.get(this.cursorId) ?? this.elements.values().next().value;
    if (!el) return;
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  /** Move the cursor by delta rows; returns the new cursor id (or null). */
  move(delta) {
    if (!this.rows.length) return null;
    const index = this.indexOf(this.cursorId);
    let next = index < 0 ? (delta > 0 ? 0 : this.rows.length - 1) : index + delta;
    if (next >= this.rows.length) {
      if (this.page(1)) return null;
      next = this.rows.length - 1;
    } else if (next < 0) {
      if (this.page(-1)) return null;
      next = 0;
    }
    this.setCursor(this.rows[next].id, { focus: true });
    return this.cursorId;
  }

  first() {
    if (!this.rows.length) return;
    this.setCursor(this.rows[0].id, { focus: true });
  }

  last() {
    if (!this.rows.length) return;
    this.setCursor(this.rows[this.rows.length - 1].id, { focus: true });
  }

  // -- changes -----------------------------------------------------------------------------

  markRead(id, read) {
    const m = this.get(id);
    if (m) m.read = read;
    const el = this.elements.get(id);
    if (!el) return;
    el.classList.toggle("unread", !read);
    const dot = el.querySelector(".dot");
    dot.title = read ? "" : "Unread";
    dot.firstChild.textContent = read ? "" : "Unread. ";
  }

  /** A new message arrived (live): show it at once on the first, unfiltered page. */
  added(summary) {
    if (this.missing) {
      this.reloadSoon(); // the first message made the mailbox
      return;
    }
    this.newestSeen = Math.max(this.newestSeen, summary.id);
    this.pending.push(summary);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), 30);
  }

  flush() {
    this.flushTimer = 0;
    const arrivals = this.pending.filter((m) => !this.elements.has(m.id));
    this.pending = [];
    if (!arrivals.length || !this.loaded) return;
    if (this.offset > 0) {
      this.unseenNew += arrivals.length;
      this.total += arrivals.length;
      this.matched += arrivals.length;
      this.renderStatus();
      return;
    }
    if (api.hasFilters(this.filters) || arrivals.length > 10 || this.reloadTimer) {
      this.reloadSoon(); // let the server decide what matches
      return;
    }
    arrivals.sort((a, b) => b.id - a.id);
    const hadRows = this.rows.length > 0;
    this.rows = [...arrivals, ...this.rows].slice(0, PAGE_SIZE);
    this.total += arrivals.length;
    this.matched += arrivals.length;
    if (!hadRows) {
      this.render();
      return;
    }
    const items = arrivals.map((m) => this.rowEl(m));
    this.root.prepend(...items);
    const keep = new Set(this.rows.map((m) => m.id));
    for (const [id, el] of this.elements) {
      if (!keep.has(id)) {
        el.parentElement.remove();
        this.elements.delete(id);
      }
    }
    this.syncCursor();
    this.renderStatus();
  }

  /** Messages were deleted (here or elsewhere): drop their rows now, refill the page soon. */
  removed(ids) {
    const hadFocus = this.root.contains(document.activeElement);
    let index = -1;
    for (const id of ids) {
      if (id === this.cursorId) index = this.indexOf(id);
      const el = this.elements.get(id);
      if (el) {
        el.parentElement.remove();
        this.elements.delete(id);
      }
    }
    const gone = new Set(ids);
    this.rows = this.rows.filter((m) => !gone.has(m.id));
    if (index >= 0) {
      const next = this.rows[Math.min(index, this.rows.length - 1)];
      this.cursorId = next ? next.id : null;
    }
    if (this.openId !== null && gone.has(this.openId)) this.openId = null;
    this.syncCursor();
    if (hadFocus && !this.root.contains(document.activeElement)) this.focusCursor();
    this.reloadSoon();
  }
}
