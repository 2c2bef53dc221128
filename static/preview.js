// The HTML preview: a sandboxed iframe (no scripts), width presets, a drag handle and
// the per-message remote-content switch.

import { htmlUrl } from "./api.js";
import { h, icon, plural } from "./dom.js";

export const PRESETS = [
  { width: 320, label: "320" },
  { width: 375, label: "375" },
  { width: 768, label: "768" },
  { width: 1024, label: "1024" },
  { width: null, label: "Full" },
];
const MIN_WIDTH = 240;
const WIDTH_KEY = "catcher.previewWidth";

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

    this.presetButtons = PRESETS.map((preset) =>
      h("button", {
        type: "button", class: "seg", "aria-pressed": "false", dataset: { width: preset.width ?? "full" },
        title: preset.width ? `Preview at ${preset.width} px` : "Preview at the full width",
        onclick: () => this.setWidth(preset.width),
      }, preset.label));
    this.readout = h("output", { class: "readout", "aria-live": "off", title: "Preview width" });

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
      src: htmlUrl(message.id, !showRemote),
    });
    this.handle = h("div", {
      class: "resize-handle", role: "separator", tabindex: "0", "aria-orientation": "vertical",
      "aria-label": "Preview width: drag, or use the arrow keys", "aria-valuemin": String(MIN_WIDTH),
      title: "Drag to resize the preview",
    });
    this.box = h("div", { class: "frame-box" }, this.frame, this.handle);
    this.stage = h("div", { class: "stage" }, this.box);

    this.el = h("div", { class: "preview" },
      h("div", { class: "preview-bar" },
        h("div", { class: "segmented", role: "group", "aria-label": "Preview width" }, this.presetButtons),
        this.readout,
        h("div", { class: `remote${showRemote ? " shown" : ""}` }, remoteInfo, this.remoteButton),
        h("a", {
          class: "btn small ghost", href: htmlUrl(message.id, !showRemote), target: "_blank",
          rel: "noopener noreferrer", title: "Open the preview in a new tab",
        }, icon("external"), h("span", { class: "label" }, "Open"))),
      this.stage);

    this.setupDrag();
    new ResizeObserver(() => this.updateReadout()).observe(this.box);
    this.setWidth(this.width, { save: false });
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
