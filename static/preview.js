// The HTML preview: a sandboxed iframe (no scripts), width presets and client widths, a
// drag handle, light, dark and inverted colour schemes, the text part beside it, and the
// per-message remote-content switch.

import { htmlUrl } from "./api.js";
import { h, icon, plural } from "./dom.js";

export const PRESETS = [
  { width: 320, label: "320" },
  { width: 375, label: "375" },
  { width: 768, label: "768" },
  { width: 1024, label: "1024" },
  { width: null, label: "Full" },
];
// Named widths of real clients: how wide their content area is, nothing more.
export const CLIENTS = [
  { width: 393, label: "iPhone 15 (393 px)" },
  { width: 412, label: "Android (412 px)" },
  { width: 640, label: "Gmail web (≈ 640 px content)" },
  { width: 800, label: "Outlook desktop reading pane (≈ 800 px)" },
];
export const SCHEMES = [
  { scheme: "light", label: "Light", title: "Light: the email's light styles, whatever your system prefers" },
  { scheme: "dark", label: "Dark", title: "Dark: the email's own dark styles, as Apple Mail shows them" },
  { scheme: "invert", label: "Inverted", title: "Inverted: colours forced dark, images kept (an approximation of the Gmail and Outlook apps)" },
];
const MIN_WIDTH = 240;
const WIDTH_KEY = "catcher.previewWidth";
const SCHEME_KEY = "catcher.previewScheme";
const TEXT_KEY = "catcher.previewText";

function load(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

function savedScheme() {
  const value = load(SCHEME_KEY);
  return SCHEMES.some((s) => s.scheme === value) ? value : "light";
}

function savedWidth() {
  try {
    const value = Number(localStorage.getItem(WIDTH_KEY));
    return Number.isFinite(value) && value >= MIN_WIDTH ? value : null;
  } catch {
    return null;
  }
}

function saveWidth(width) {
  try {
    if (width === null) localStorage.removeItem(WIDTH_KEY);
    else localStorage.setItem(WIDTH_KEY, String(width));
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export class Preview {
  /** message: the detail JSON; showRemote: this message's choice; onRemote(show) flips it. */
  constructor(message, { showRemote, onRemote }) {
    this.message = message;
    this.showRemote = showRemote;
    this.width = savedWidth();
    this.scheme = savedScheme();
    this.showText = load(TEXT_KEY) === "1";

    this.presetButtons = PRESETS.map((preset) =>
      h("button", {
        type: "button", class: "seg", "aria-pressed": "false", dataset: { width: preset.width ?? "full" },
        title: preset.width ? `Preview at ${preset.width} px` : "Preview at the full width",
        onclick: () => this.setWidth(preset.width),
      }, preset.label));
    this.readout = h("output", { class: "readout", "aria-live": "off", title: "Preview width" });
    this.clientSelect = h("select", {
      class: "client-select", "aria-label": "Client width", title: "Preview at the width of a client's content area",
      onchange: () => { if (this.clientSelect.value) this.setWidth(Number(this.clientSelect.value)); },
    },
    h("option", { value: "" }, "Client width…"),
    CLIENTS.map((client) => h("option", { value: String(client.width) }, client.label)));
    this.schemeButtons = SCHEMES.map((choice) =>
      h("button", {
        type: "button", class: "seg", "aria-pressed": "false", dataset: { scheme: choice.scheme },
        title: choice.title, onclick: () => this.setScheme(choice.scheme),
      }, choice.label));
    this.textButton = h("button", {
      type: "button", class: "btn small", id: "text-toggle", "aria-pressed": "false",
      title: "Show the text part beside the HTML", onclick: () => this.setShowText(!this.showText),
    }, "Text beside");
    this.textPane = message.text === null
      ? h("p", { class: "text-side absent-note" }, "This message has no text part.")
      : h("pre", { class: "text-side", tabindex: "0", "aria-label": "The text part" }, message.text);

    const remote = message.remote_resources;
    this.remoteButton = h("button", {
      type: "button", class: "btn small", id: "remote-toggle",
      "aria-pressed": String(showRemote), onclick: () => onRemote(!this.showRemote),
    }, showRemote ? "Block" : "Show");
    const summaryText = showRemote
      ? `Remote content shown${remote.length ? ` (${plural(remote.length, "resource")})` : ""}`
      : remote.length ? `${plural(remote.length, "remote resource")} blocked` : "Remote content blocked";
    const remoteInfo = remote.length
      ? h("details", { class: "remote-list" },
          h("summary", {}, icon(showRemote ? "eye" : "shield"), h("span", { class: "remote-count" }, summaryText)),
          h("ul", {}, remote.slice(0, 100).map((url) => h("li", {}, url))))
      : h("span", { class: "remote-list" }, icon(showRemote ? "eye" : "shield"), h("span", { class: "remote-count" }, summaryText));

    this.frame = h("iframe", {
      class: "preview-frame",
      title: "HTML preview of the message",
      sandbox: "allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
      src: htmlUrl(message.id, !showRemote, this.scheme),
    });
    this.handle = h("div", {
      class: "resize-handle", role: "separator", tabindex: "0", "aria-orientation": "vertical",
      "aria-label": "Preview width: drag, or use the arrow keys", "aria-valuemin": String(MIN_WIDTH),
      title: "Drag to resize the preview",
    });
    this.box = h("div", { class: "frame-box" }, this.frame, this.handle);
    this.stage = h("div", { class: "stage" }, this.box, this.textPane);

    this.el = h("div", { class: "preview" },
      h("div", { class: "preview-bar" },
        h("div", { class: "segmented", role: "group", "aria-label": "Preview width" }, this.presetButtons),
        this.clientSelect,
        this.readout,
        h("div", { class: "segmented schemes", role: "group", "aria-label": "Colour scheme" }, this.schemeButtons),
        this.textButton,
        h("div", { class: `remote${showRemote ? " shown" : ""}` }, remoteInfo, this.remoteButton),
        this.openLink = h("a", {
          class: "btn small ghost", id: "open-preview", href: htmlUrl(message.id, !showRemote, this.scheme), target: "_blank",
          rel: "noopener noreferrer", title: "Open the preview in a new tab",
        }, icon("external"), h("span", { class: "label" }, "Open"))),
      this.stage);

    this.setupDrag();
    new ResizeObserver(() => this.updateReadout()).observe(this.box);
    this.setWidth(this.width, { save: false });
    this.setScheme(this.scheme, { save: false });
    this.setShowText(this.showText, { save: false });
  }

  /** light, dark or invert: the frame and the Open link both show it. */
  setScheme(scheme, { save = true } = {}) {
    this.scheme = scheme;
    const url = htmlUrl(this.message.id, !this.showRemote, scheme);
    if (this.frame.getAttribute("src") !== url) this.frame.setAttribute("src", url);
    this.openLink.href = url;
    for (const button of this.schemeButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.scheme === scheme));
    }
    if (save) store(SCHEME_KEY, scheme);
  }

  setShowText(show, { save = true } = {}) {
    this.showText = show;
    this.textButton.setAttribute("aria-pressed", String(show));
    this.textPane.hidden = !show;
    this.stage.classList.toggle("with-text", show);
    if (save) store(TEXT_KEY, show ? "1" : null);
  }

  setWidth(width, { save = true } = {}) {
    this.width = width === null ? null : Math.max(MIN_WIDTH, Math.round(width));
    this.box.style.width = this.width === null ? "" : `${this.width}px`;
    this.box.classList.toggle("full", this.width === null);
    for (const button of this.presetButtons) {
      const value = button.dataset.width === "full" ? null : Number(button.dataset.width);
      button.setAttribute("aria-pressed", String(value === this.width));
    }
    if (save) saveWidth(this.width);
    this.clientSelect.value = CLIENTS.some((c) => c.width === this.width) ? String(this.width) : "";
    this.updateReadout();
  }

  updateReadout() {
    const width = Math.round(this.box.getBoundingClientRect().width) || this.width;
    this.readout.value = width ? `${width} px` : "";
    if (width) this.handle.setAttribute("aria-valuenow", String(width));
  }

  setupDrag() {
    this.handle.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      const startX = event.clientX;
      const startWidth = this.box.getBoundingClientRect().width;
      const drag = new AbortController();
      const options = { signal: drag.signal };
      this.stage.classList.add("dragging");
      this.handle.setPointerCapture(event.pointerId);
      this.handle.addEventListener("pointermove", (move) => {
        // The frame is centred, so each edge moves by half the change in width.
        const width = Math.min(this.stage.clientWidth, startWidth + 2 * (move.clientX - startX));
        this.setWidth(width, { save: false });
      }, options);
      const end = () => {
        drag.abort();
        this.stage.classList.remove("dragging");
        saveWidth(this.width);
      };
      this.handle.addEventListener("pointerup", end, options);
      this.handle.addEventListener("pointercancel", end, options);
      this.handle.addEventListener("lostpointercapture", end, options);
    });
    this.handle.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 50 : 10;
      const current = this.box.getBoundingClientRect().width;
      if (event.key === "ArrowLeft") this.setWidth(current - step);
      else if (event.key === "ArrowRight") this.setWidth(Math.min(this.stage.clientWidth, current + step));
      else return;
      event.preventDefault();
      event.stopPropagation();
    });
  }
}
