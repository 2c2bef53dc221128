// The message view: who, when, how it arrived, and tabs for HTML, text, source,
// headers, parts and the check (will it work in mail clients). Everything from the message goes into the DOM as text.

import * as api from "./api.js";
import { CheckView } from "./check.js";
import { addressNodes, clear, exactTime, formatSize, h, icon, plural, timeEl } from "./dom.js";
import { Preview } from "./preview.js";

const SOURCE_LIMIT = 2 * 1024 * 1024;
const TABS = [
  { name: "html", label: "HTML" },
  { name: "text", label: "Text" },
  { name: "source", label: "Source" },
  { name: "headers", label: "Headers" },
  { name: "parts", label: "Parts" },
  { name: "check", label: "Check" },
];
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/g;

export class MessageView {
  constructor(root, { onBack, onDelete, onRead }) {
    this.root = root;
    this.onBack = onBack;
    this.onDelete = onDelete;
    this.onRead = onRead;
    this.message = null;
    this.mailbox = null; // the mailbox the message is seen from (null: All mail)
    this.remoteShown = new Map(); // message id -> true once "Show" was chosen for it
    this.preferredTab = "html";
    this.loadSeq = 0;
    this.showEmpty();
  }

  get id() {
    return this.message?.id ?? null;
  }

  // -- states ---------------------------------------------------------------------------

  showEmpty(text = "Select a message to read it.") {
    this.message = null;
    this.loadSeq += 1;
    clear(this.root).append(h("div", { class: "placeholder" }, icon("mail", "icon big"), h("p", {}, text),
      h("p", { class: "muted" }, "Press ", h("kbd", {}, "?"), " for keyboard shortcuts.")));
  }

  showGone(id) {
    this.showEmpty(`Message ${id} was deleted.`);
  }

  /** Open a message as seen from a mailbox (null: All mail); null if it is not there. */
  async open(id, mailbox = null) {
    const seq = ++this.loadSeq;
    if (this.id !== id) {
      this.root.setAttribute("aria-busy", "true");
    }
    this.mailbox = mailbox;
    let message;
    try {
      message = await api.getMessage(id, mailbox);
    } catch (error) {
      if (seq !== this.loadSeq) return null;
      this.root.removeAttribute("aria-busy");
      this.message = null;
      const gone = mailbox === null
        ? `There is no message ${id}; it may have been deleted.`
        : [`There is no message ${id} in `, h("span", { class: "box-ref" }, mailbox), "; it may have been deleted."];
      clear(this.root).append(this.toolbar(null), h("div", { class: "placeholder" }, icon("warning", "icon big"),
        h("p", {}, error.status === 404 ? gone : "Could not load the message."),
        h("p", { class: "muted" }, error.message)));
      return null;
    }
    if (seq !== this.loadSeq) return null;
    this.root.removeAttribute("aria-busy");
    this.render(message);
    return message;
  }

  // -- rendering ---------------------------------------------------------------------------

  render(m) {
    this.message = m;
    this.panels = new Map();
    this.tabs = new Map();
    this.sourceLoaded = false;
    this.check = null;

    const available = {
      html: m.html !== null,
      text: m.text !== null,
      source: true,
      headers: true,
      parts: true,
      check: true,
    };
    const counts = { headers: m.headers.length, parts: m.parts.length };
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Message views" });
    for (const tab of TABS) {
      const button = h("button", {
        type: "button", role: "tab", id: `tab-${tab.name}`, class: "tab",
        "aria-controls": `panel-${tab.name}`, "aria-selected": "false", tabindex: "-1",
        dataset: { tab: tab.name },
        onclick: () => this.selectTab(tab.name, { remember: true }),
      }, tab.label, counts[tab.name] !== undefined ? h("span", { class: "count" }, String(counts[tab.name])) : null,
      available[tab.name] ? null : h("span", { class: "visually-hidden" }, " (none)"));
      if (!available[tab.name]) button.classList.add("absent");
      this.tabs.set(tab.name, button);
      tablist.append(button);
    }
    tablist.addEventListener("keydown", (event) => this.tabKeys(event));

    const panels = h("div", { class: "panels" });
    for (const tab of TABS) {
      const panel = h("div", {
        class: `panel panel-${tab.name}`, role: "tabpanel", id: `panel-${tab.name}`,
        "aria-labelledby": `tab-${tab.name}`, hidden: true,
      });
      this.panels.set(tab.name, panel);
      panels.append(panel);
    }
    this.fillHtml();
    this.fillText();
    this.fillHeaders();
    this.fillParts();

    const article = h("article", { class: "message", "aria-labelledby": "message-subject" },
      this.toolbar(m),
      h("h1", { class: "subject", id: "message-subject", tabindex: "-1" }, m.subject || "(no subject)"),
      m.defects.length ? this.defectsEl(m.defects) : null,
      this.fieldsEl(m),
      tablist,
      panels);
    clear(this.root).append(article);
    this.root.scrollTop = 0;
    const wanted = available[this.preferredTab] ? this.preferredTab : available.html ? "html" : "text";
    this.selectTab(available[wanted] ? wanted : "source");
  }

  toolbar(m) {
    const bar = h("div", { class: "toolbar" },
      h("button", { type: "button", class: "btn ghost back", onclick: () => this.onBack() },
        icon("back"), h("span", { class: "label" }, "Inbox")));
    if (m) {
      this.readButton = h("button", {
        type: "button", class: "btn ghost", id: "toggle-read", title: "Mark read or unread (u)",
        onclick: () => this.onRead(m.id, !m.read),
      });
      this.setRead(m.read);
      bar.append(
        h("span", { class: "spacer" }),
        this.readButton,
        h("a", { class: "btn ghost", href: m.urls.source, download: `${m.id}.eml`, id: "download-eml", title: "Download the raw message" },
          icon("download"), h("span", { class: "label" }, ".eml")),
        h("button", { type: "button", class: "btn ghost danger", id: "delete-message",
          title: this.mailbox === null ? "Delete (Delete key)" : "Delete from this mailbox (Delete key)",
          onclick: () => this.onDelete(m.id) }, icon("trash"), h("span", { class: "label" }, "Delete")));
    }
    return bar;
  }

  setRead(read) {
    if (!this.message || !this.readButton) return;
    this.message.read = read;
    clear(this.readButton).append(icon(read ? "mail" : "mail-open"),
      h("span", { class: "label" }, read ? "Mark unread" : "Mark read"));
  }

  defectsEl(defects) {
    return h("section", { class: "defects", "aria-labelledby": "defects-title" },
      h("h2", { id: "defects-title" }, icon("warning"),
        ` ${plural(defects.length, "problem")} found while parsing this message`),
      h("ul", {}, defects.slice(0, 50).map((d) => h("li", {}, d))),
      defects.length > 50 ? h("p", {}, `… and ${defects.length - 50} more`) : null);
  }

  fieldsEl(m) {
    const rows = [];
    const row = (label, ...value) => rows.push(h("div", { class: "field" }, h("dt", {}, label), h("dd", {}, ...value)));
    const senders = m.from_all.length ? m.from_all : m.from ? [m.from] : [];
    row("From", senders.length ? addressNodes(senders) : h("span", { class: "muted" }, "(none)"));
    row("To", m.to.length ? addressNodes(m.to) : h("span", { class: "muted" }, "(none)"));
    if (m.cc.length) row("Cc", addressNodes(m.cc));
    // Bcc recipients never appear in the headers, only in the SMTP envelope.
    const listed = new Set([...m.to, ...m.cc].map((a) => a.address.toLowerCase()));
    const hidden = m.envelope.rcpt_to.filter((rcpt) => !listed.has(rcpt.toLowerCase()));
    const bcc = [...m.bcc];
    for (const rcpt of hidden) {
      if (!bcc.some((a) => a.address.toLowerCase() === rcpt.toLowerCase())) bcc.push({ name: "", address: rcpt });
    }
    if (bcc.length) row("Bcc", addressNodes(bcc));
    if (m.reply_to.length) row("Reply-To", addressNodes(m.reply_to));
    row("Date",
      m.date ? h("span", { title: m.date_raw ?? "" }, exactTime(m.date)) : h("span", { class: "muted" }, m.date_raw || "(no Date header)"),
      h("span", { class: "muted" }, " · received ", timeEl(m.received_at)));
    row("Envelope",
      h("span", { class: "muted" }, "MAIL FROM "), h("span", { class: "mono" }, m.envelope.mail_from || "<>"),
      h("span", { class: "muted" }, " RCPT TO "), h("span", { class: "mono envelope-rcpt" }, m.envelope.rcpt_to.join(", ")));
    const smtp = m.smtp;
    // Names are user data: text only, and a link only for a name the server could have made.
    const boxes = m.mailboxes ?? [];
    if (boxes.length) {
      row(boxes.length === 1 ? "Mailbox" : "Mailboxes", h("span", { class: "box-list" }, boxes.map((name) =>
        api.MAILBOX_NAME.test(name)
          ? h("a", { class: `chip box-chip${name === this.mailbox ? " current" : ""}`, href: `#/box/${name}/m/${m.id}`,
            title: `Show it in ${name}` }, name)
          : h("span", { class: "chip box-chip" }, name))));
    }
    row("SMTP",
      h("span", { class: `chip ${smtp.tls ? "ok" : ""}` }, smtp.tls ? "TLS" : "No TLS"),
      h("span", { class: `chip ${smtp.auth_user ? "ok" : ""}` }, smtp.auth_user ? "Auth: " : "No auth",
        smtp.auth_user ? h("span", { class: "mono" }, smtp.auth_user) : null),
      h("span", { class: "muted smtp-peer" }, `HELO ${smtp.helo || "?"} from ${smtp.client_address || "?"}`),
      h("span", { class: "muted" }, ` · ${formatSize(m.size)}`));
    return h("dl", { class: "fields" }, rows);
  }

  fillHtml() {
    const m = this.message;
    const panel = this.panels.get("html");
    if (m.html === null) {
      panel.append(h("p", { class: "absent-note" }, "This message has no HTML body."));
      return;
    }
    this.preview = new Preview(m, {
      showRemote: this.remoteShown.get(m.id) === true,
      onRemote: (show) => this.setRemote(show),
    });
    panel.append(this.preview.el);
  }

  /** The per-message remote-content switch: only this message's choice changes. */
  setRemote(show) {
    const m = this.message;
    if (!m || m.html === null) return;
    if (show) this.remoteShown.set(m.id, true);
    else this.remoteShown.delete(m.id);
    const panel = this.panels.get("html");
    const hadFocus = panel.contains(document.activeElement);
    clear(panel);
    this.fillHtml();
    if (hadFocus) panel.querySelector("#remote-toggle").focus();
  }

  toggleRemote() {
    if (this.message?.html !== null && this.message) this.setRemote(!this.remoteShown.get(this.message.id));
  }

  fillText() {
    const m = this.message;
    const panel = this.panels.get("text");
    if (m.text === null) {
      panel.append(h("p", { class: "absent-note" }, "This message has no plain-text body."));
      return;
    }
    panel.append(h("pre", { class: "text-body", tabindex: "0" }, linkify(m.text)));
  }

  async fillSource() {
    const m = this.message;
    const panel = this.panels.get("source");
    this.sourceLoaded = true;
    const pre = h("pre", { class: "source", tabindex: "0", "aria-busy": "true" }, "Loading…");
    panel.append(h("div", { class: "panel-bar" },
      h("span", { class: "muted" }, `Raw message, ${formatSize(m.size)}`),
      h("a", { class: "btn small", href: m.urls.source, download: `${m.id}.eml` }, icon("download"), " Download .eml"),
      h("a", { class: "btn small ghost", href: `${m.urls.raw}?inline=1`, target: "_blank", rel: "noopener noreferrer" },
        icon("external"), " Open")), pre);
    try {
      const { text, truncated } = await api.fetchText(m.urls.raw, SOURCE_LIMIT);
      pre.textContent = text;
      if (truncated) {
        pre.after(h("p", { class: "absent-note" }, `Showing the first ${formatSize(SOURCE_LIMIT)}; download the .eml for all of it.`));
      }
    } catch (error) {
      pre.textContent = `Could not load the source: ${error.message}`;
    }
    pre.removeAttribute("aria-busy");
  }

  /** The check report, fetched the first time the tab is shown. */
  fillCheck() {
    this.check = new CheckView(this.message);
    this.panels.get("check").append(this.check.el);
    this.check.load();
  }

  fillHeaders() {
    const m = this.message;
    const panel = this.panels.get("headers");
    const body = h("tbody", {}, m.headers.map((header) =>
      h("tr", { dataset: { search: `${header.name}: ${header.value}`.toLowerCase() } },
        h("th", { scope: "row" }, header.name), h("td", {}, header.value))));
    const count = h("span", { class: "muted", "aria-live": "polite" }, plural(m.headers.length, "header"));
    const input = h("input", {
      type: "search", class: "filter", id: "header-filter", placeholder: "Filter headers",
      "aria-label": "Filter headers", autocomplete: "off", spellcheck: "false",
    });
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      let shown = 0;
      for (const tr of body.rows) {
        const match = !needle || tr.dataset.search.includes(needle);
        tr.hidden = !match;
        if (match) shown += 1;
      }
      count.textContent = needle ? `${shown} of ${plural(m.headers.length, "header")}` : plural(m.headers.length, "header");
    });
    panel.append(h("div", { class: "panel-bar" }, input, count),
      h("div", { class: "table-wrap" }, h("table", { class: "headers" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))), body)));
  }

  fillParts() {
    const m = this.message;
    const panel = this.panels.get("parts");
    if (!m.parts.length) {
      panel.append(h("p", { class: "absent-note" }, "This message has no parts."));
      return;
    }
    const attachments = m.parts.filter((p) => p.is_attachment).length;
    panel.append(h("div", { class: "panel-bar" }, h("span", { class: "muted" },
      `${plural(m.parts.length, "part")}, ${plural(attachments, "attachment")}`)));
    panel.append(h("ul", { class: "parts" }, m.parts.map((part) => partEl(part))));
  }

  // -- tabs -----------------------------------------------------------------------------

  selectTab(name, { focus = false, remember = false } = {}) {
    if (!this.message || !this.tabs.has(name)) return;
    if (remember) this.preferredTab = name;
    for (const [tab, button] of this.tabs) {
      const selected = tab === name;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      this.panels.get(tab).hidden = !selected;
    }
    if (name === "source" && !this.sourceLoaded) this.fillSource();
    if (name === "check" && !this.check) this.fillCheck();
    if (focus) this.tabs.get(name).focus();
    this.currentTab = name;
  }

  selectTabAt(index) {
    const tab = TABS[index];
    if (tab) this.selectTab(tab.name, { remember: true });
  }

  tabKeys(event) {
    const names = TABS.map((t) => t.name);
    let index = names.indexOf(this.currentTab);
    if (event.key === "ArrowRight") index = (index + 1) % names.length;
    else if (event.key === "ArrowLeft") index = (index + names.length - 1) % names.length;
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = names.length - 1;
    else return;
    event.preventDefault();
    event.stopPropagation();
    this.selectTab(names[index], { focus: true, remember: true });
  }

  focusHeading() {
    this.root.querySelector("#message-subject")?.focus({ preventScroll: true });
  }
}

function partEl(part) {
  const isImage = /^image\//i.test(part.content_type);
  const body = !part.filename && !part.is_attachment && { "text/plain": "Text body", "text/html": "HTML body" }[part.content_type];
  const inline = part.content_id ? (isImage ? "Inline image" : "Inline part") : null;
  const name = part.filename || body || inline || `Part ${part.part_id}`;
  const details = [part.content_type, formatSize(part.size), part.is_attachment ? "attachment" : part.disposition || "inline"];
  return h("li", { class: "part", dataset: { partId: part.part_id } },
    h("div", { class: "thumb" }, isImage
      ? h("img", { src: part.url, alt: `Preview of ${name}`, loading: "lazy", decoding: "async" })
      : icon(part.is_attachment ? "paperclip" : "file", "icon")),
    h("div", { class: "part-info" },
      h("span", { class: `part-name${part.filename ? "" : " unnamed"}` }, name),
      h("span", { class: "muted part-details" }, details.join(" · ")),
      part.content_id ? h("span", { class: "muted mono part-cid" }, `cid:${part.content_id}`) : null),
    h("div", { class: "part-actions" },
      h("a", { class: "btn small", href: `${part.url}?download=1`, download: part.filename || `part-${part.part_id}`,
        "aria-label": `Download ${name}` }, icon("download"), h("span", { class: "label" }, "Download")),
      h("a", { class: "btn small ghost", href: part.url, target: "_blank", rel: "noopener noreferrer",
        "aria-label": `Open ${name} in a new tab` }, icon("external"))));
}

/** Text with its http(s) URLs as links; nothing else becomes markup. */
function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    let url = match[0];
    const trail = /[.,;:!?)\]}]+$/.exec(url);
    if (trail) url = url.slice(0, -trail[0].length);
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    last = match.index + url.length;
    if (out.length > 20000) break;
  }
  out.push(text.slice(last));
  return out;
}
