// The Check tab: will this email work? Client support from caniemail's data, lint
// findings, every link, and the HTML source they point at. The report quotes the
// message (URLs, attributes, header values), so all of it goes into the DOM as text.

import * as api from "./api.js";
import { clear, formatSize, h, icon, plural } from "./dom.js";

const PLATFORMS = [
  { value: "", label: "All" },
  { value: "desktop", label: "Desktop" },
  { value: "mobile", label: "Mobile" },
  { value: "web", label: "Web" },
];
const SEVERITIES = [
  { name: "error", label: "Errors", one: "error" },
  { name: "warning", label: "Warnings", one: "warning" },
  { name: "info", label: "Info", one: "info", many: "info" },
];
const SUPPORT = {
  supported: "Supported", partial: "Partial", mixed: "Mixed", unsupported: "Unsupported", unknown: "Unknown",
  yes: "Yes", no: "No",
};
const SAFE_LINK = /^https:\/\//i;

export class CheckView {
  /** message: the detail JSON (its html is the text the report's line numbers count in). */
  constructor(message) {
    this.message = message;
    this.platform = "";
    this.seq = 0;
    this.report = null;
    this.highlighted = [];
    this.status = h("p", { class: "check-status", role: "status", "aria-live": "polite" });
    this.filter = h("div", { class: "segmented platform-filter", role: "group", "aria-label": "Mail clients to check against" },
      PLATFORMS.map((p) => h("button", {
        type: "button", class: "seg", "aria-pressed": String(p.value === this.platform),
        dataset: { platform: p.value }, onclick: () => this.setPlatform(p.value),
      }, p.label)));
    this.summary = h("div", { class: "check-summary" });
    this.body = h("div", { class: "check-body" });
    this.source = message.html === null ? null : sourceView(message.html);
    this.el = h("div", { class: "check", id: "check" },
      h("div", { class: "panel-bar check-bar" }, this.summary, this.filter), this.status, this.body,
      this.source?.section ?? null);
    // One handler for every line reference, however many the report has.
    this.el.addEventListener("click", (event) => {
      const ref = event.target.closest?.("button.line-ref");
      if (ref && this.el.contains(ref)) this.showLines(ref);
    });
  }

  /** Fetch the report for the platform chosen; a later answer replaces an earlier one. */
  async load() {
    const seq = ++this.seq;
    const label = PLATFORMS.find((p) => p.value === this.platform).label;
    this.el.setAttribute("aria-busy", "true");
    clear(this.status).append(this.report ? `Checking against ${label.toLowerCase()} clients…` : "Checking the message…");
    this.status.className = "check-status busy";
    let report;
    try {
      report = await api.checkMessage(this.message.id, this.platform);
    } catch (error) {
      if (seq !== this.seq) return;
      this.el.removeAttribute("aria-busy");
      this.status.className = "check-status error";
      clear(this.status).append(icon("warning"), ` Could not check the message: ${error.message}`, " ",
        h("button", { type: "button", class: "btn small", id: "check-retry", onclick: () => this.load() }, "Try again"));
      return;
    }
    if (seq !== this.seq) return;
    this.el.removeAttribute("aria-busy");
    this.status.className = "check-status";
    clear(this.status);
    this.render(report);
  }

  setPlatform(value) {
    this.platform = value;
    for (const button of this.filter.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.platform === value));
    }
    this.load();
  }

  render(report) {
    this.report = report;
    const compat = report.compatibility;
    const score = compat.score;
    clear(this.summary).append(
      h("div", { class: "check-score", id: "check-score", title: "Share of the HTML's features the clients support (partial counts half)" },
        h("span", { class: `score-value ${scoreClass(score)}` }, score === null ? "—" : formatScore(score)),
        h("span", { class: "muted" }, "client support")),
      h("ul", { class: "check-counts", "aria-label": "Findings" }, SEVERITIES.map((s) =>
        h("li", { class: `sev-chip sev-${s.name}`, dataset: { severity: s.name, count: report.counts[s.name] ?? 0 } },
          plural(report.counts[s.name] ?? 0, s.one, s.many)))));
    this.filter.hidden = !report.html.present;
    clear(this.body).append(
      this.findingsEl(report),
      this.familiesEl(report),
      this.featuresEl(report),
      this.linksEl(report));
  }

  // -- findings ---------------------------------------------------------------------------

  findingsEl(report) {
    const section = h("section", { class: "check-section", "aria-labelledby": "check-findings-title" },
      h("h2", { id: "check-findings-title" }, "Findings"));
    if (!report.findings.length) {
      section.append(h("p", { class: "muted" }, "Nothing to report."));
      return section;
    }
    for (const severity of SEVERITIES) {
      const found = report.findings.filter((f) => f.severity === severity.name);
      if (!found.length) continue;
      section.append(h("h3", { class: `sev-title sev-${severity.name}` }, `${severity.label} (${found.length})`),
        h("ul", { class: "findings", dataset: { severity: severity.name } }, found.map(findingEl)));
    }
    return section;
  }

  // -- compatibility ----------------------------------------------------------------------

  familiesEl(report) {
    const compat = report.compatibility;
    const section = h("section", { class: "check-section", "aria-labelledby": "check-clients-title" },
      h("h2", { id: "check-clients-title" }, "Mail clients"));
    if (!report.html.present) {
      section.append(h("p", { class: "muted no-html" }, "This message has no HTML, so there is nothing for mail clients to support or not."));
      return section;
    }
    if (report.html.truncated) {
      section.append(h("p", { class: "muted" },
        `Only the first ${report.html.read.toLocaleString()} characters of the HTML (${formatSize(report.html.bytes)}) were checked.`));
    }
    if (!compat.families.length) {
      section.append(h("p", { class: "muted" }, "No client has data for the features this HTML uses."));
      return section;
    }
    section.append(h("p", { class: "muted" }, "Worst first; open a family for its clients."),
      h("ul", { class: "families" }, compat.families.map((family) =>
        h("li", { class: "family", dataset: { family: family.family } },
          h("details", {},
            h("summary", {},
              h("span", { class: "family-name" }, family.name),
              bar(family.score),
              h("span", { class: `family-score ${scoreClass(family.score)}` }, formatScore(family.score)),
              h("span", { class: "muted family-counts" }, tally(family))),
            h("table", { class: "check-table clients" },
              h("thead", {}, h("tr", {}, ["Client", "Version", "Supported", "Partial", "Unsupported", "Score"].map((t) =>
                h("th", { scope: "col" }, t)))),
              h("tbody", {}, family.clients.map((c) => h("tr", {},
                h("th", { scope: "row" }, c.name), h("td", {}, c.version),
                h("td", {}, String(c.supported)), h("td", {}, String(c.partial)), h("td", {}, String(c.unsupported)),
                h("td", { class: scoreClass(c.score) }, c.score === null ? "—" : formatScore(c.score)))))))))));
    return section;
  }

  featuresEl(report) {
    const compat = report.compatibility;
    const section = h("section", { class: "check-section", "aria-labelledby": "check-features-title" },
      h("h2", { id: "check-features-title" }, "Features used"));
    if (report.html.present && !compat.features.length) {
      section.append(h("p", { class: "muted" }, "The HTML uses no feature caniemail has data for."));
    }
    if (compat.features.length) {
      section.append(h("ul", { class: "features" }, compat.features.map(featureEl)));
    }
    const data = compat.data;
    const updated = String(data.updated ?? "").slice(0, 10);
    section.append(h("p", { class: "muted check-data", id: "check-data" }, "Support data: ",
      SAFE_LINK.test(data.url) ? h("a", { href: data.url, target: "_blank", rel: "noopener noreferrer" }, data.source) : data.source,
      ` ${data.version} (${data.license})${updated ? `, updated ${updated}` : ""}`));
    return section;
  }

  // -- links ------------------------------------------------------------------------------

  linksEl(report) {
    const section = h("section", { class: "check-section", "aria-labelledby": "check-links-title" },
      h("h2", { id: "check-links-title" }, "Links"),
      h("p", { class: "muted", id: "check-not-fetched" },
        report.fetched ? "Some links were fetched." : "Links are checked by their text only; catcher never fetches them."));
    if (!report.links.length) {
      section.append(h("p", { class: "muted" }, "The HTML has no links or images."));
      return section;
    }
    section.append(h("div", { class: "table-wrap" }, h("table", { class: "check-table links" },
      h("thead", {}, h("tr", {}, ["URL", "Kind", "Text", "Line", "Problems"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, report.links.map((link) => h("tr", { class: link.problems.length ? "has-problems" : null },
        h("td", { class: "mono link-url" }, link.url),
        h("td", {}, link.kind),
        h("td", { class: "link-text" }, link.text),
        h("td", {}, link.line ? lineRef(link.line, [link.line]) : "—"),
        h("td", {}, link.problems.length
          ? h("ul", { class: "link-problems" }, link.problems.map((p) => h("li", { dataset: { rule: p.rule } }, p.message)))
          : h("span", { class: "muted" }, "none"))))))));
    return section;
  }

  // -- the source ------------------------------------------------------------------------

  /** Highlight the lines a reference names and bring the one clicked into view. */
  showLines(ref) {
    if (!this.source) return;
    for (const el of this.highlighted) el.classList.remove("hit", "current");
    const lines = this.source.lines;
    const wanted = ref.dataset.lines.split(",").map(Number);
    this.highlighted = wanted.map((n) => lines.children[n - 1]).filter(Boolean);
    for (const el of this.highlighted) el.classList.add("hit");
    const current = lines.children[Number(ref.dataset.line) - 1];
    if (!current) {
      clear(this.source.note).append(`Line ${ref.dataset.line} is past the end of the HTML.`);
      return;
    }
    current.classList.add("current");
    clear(this.source.note).append(`Line ${ref.dataset.line} highlighted.`);
    // Not scrollIntoView: it would also scroll the page's overflow-hidden body.
    centre(current, lines);
    const pane = scroller(lines.parentElement);
    if (pane) centre(current, pane);
  }
}

function findingEl(f) {
  const lines = f.lines?.length ? f.lines : f.line ? [f.line] : [];
  return h("li", { class: `finding sev-${f.severity}`, dataset: { rule: f.rule } },
    h("div", { class: "finding-head" },
      h("span", { class: "finding-title" }, f.title),
      f.count > 1 ? h("span", { class: "chip finding-count", title: `Found ${f.count} times` }, `×${f.count}`) : null,
      h("span", { class: "chip" }, f.category)),
    h("p", { class: "finding-message" }, f.message),
    h("p", { class: "finding-explanation muted" }, f.explanation),
    lines.length || (f.source && SAFE_LINK.test(f.source))
      ? h("p", { class: "finding-refs" },
        lines.length ? [lines.length === 1 ? "Line " : "Lines ", lines.map((n, i) => [i ? ", " : null, lineRef(n, lines)]),
          f.count > lines.length ? ` (first ${lines.length} of ${f.count})` : null] : null,
        f.source && SAFE_LINK.test(f.source)
          ? [lines.length ? " · " : null, h("a", { href: f.source, target: "_blank", rel: "noopener noreferrer", class: "finding-source" },
            "Reference", h("span", { class: "visually-hidden" }, ` for ${f.title}`))]
          : null)
      : null);
}

function featureEl(feature) {
  const c = feature.clients;
  const title = SAFE_LINK.test(feature.url)
    ? h("a", { href: feature.url, target: "_blank", rel: "noopener noreferrer", class: "feature-title" }, feature.title)
    : h("span", { class: "feature-title" }, feature.title);
  return h("li", { class: `feature support-${feature.support}`, dataset: { slug: feature.slug } },
    h("div", { class: "feature-head" },
      h("span", { class: `support-badge support-${feature.support}` }, SUPPORT[feature.support] ?? feature.support),
      title,
      h("span", { class: "chip" }, feature.category)),
    h("p", { class: "feature-used" },
      `Used ${plural(feature.count, "time")}`,
      feature.lines.length ? [feature.lines.length === 1 ? " on line " : " on lines ",
        feature.lines.map((n, i) => [i ? ", " : null, lineRef(n, feature.lines)]),
        feature.count > feature.lines.length ? "…" : null] : null,
      h("span", { class: "muted" }, ` · ${c.yes} yes, ${c.partial} partial, ${c.no} no${c.unknown ? `, ${c.unknown} unknown` : ""}`)),
    feature.notes ? h("p", { class: "feature-notes" }, markdownText(feature.notes)) : null,
    h("details", { class: "feature-results" },
      h("summary", {}, `Per client (${feature.results.length})`),
      feature.description ? h("p", { class: "muted feature-description" }, markdownText(feature.description)) : null,
      h("table", { class: "check-table results" },
        h("thead", {}, h("tr", {}, ["Client", "Version", "Support", "Notes"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, feature.results.map((r) => h("tr", { class: `support-${r.support}` },
          h("th", { scope: "row" }, r.client),
          h("td", {}, r.version),
          h("td", {}, h("span", { class: `support-badge support-${r.support}` }, SUPPORT[r.support] ?? r.support)),
          h("td", {}, r.notes.map((n) => h("p", { class: "result-note" }, markdownText(n))))))))));
}

/** A button that shows a line in the source; `lines` are the others it belongs with. */
function lineRef(n, lines) {
  return h("button", {
    type: "button", class: "line-ref", dataset: { line: n, lines: lines.join(",") },
    title: `Show line ${n} in the HTML source`,
  }, String(n));
}

/** The HTML as numbered lines, one element each, every one a text node. */
function sourceView(html) {
  const lines = h("pre", { class: "check-source", id: "check-source", tabindex: "0", "aria-label": "HTML source" });
  const fragment = document.createDocumentFragment();
  const text = html.split("\n");
  for (let i = 0; i < text.length; i += 1) {
    const line = document.createElement("span");
    line.className = "src-line";
    line.textContent = `${text[i].endsWith("\r") ? text[i].slice(0, -1) : text[i]}\n`;
    fragment.append(line);
  }
  lines.append(fragment);
  const note = h("span", { class: "muted", role: "status", "aria-live": "polite" });
  const section = h("section", { class: "check-section check-source-section", "aria-labelledby": "check-source-title" },
    h("h2", { id: "check-source-title" }, "HTML source ", h("span", { class: "muted" }, `(${plural(text.length, "line")})`)),
    h("p", { class: "muted" }, "Line numbers in the report count in this text: the HTML body, decoded. ", note),
    lines);
  return { section, lines, note };
}

/** caniemail's Markdown, as text: `code` spans become <code>, nothing else becomes markup. */
function markdownText(text) {
  return String(text).split(/(`[^`]+`)/).map((piece) =>
    piece.length > 2 && piece.startsWith("`") && piece.endsWith("`") ? h("code", {}, piece.slice(1, -1)) : piece);
}

/** Scroll `box` so that `el` sits in the middle of what it shows. */
function centre(el, box) {
  const at = el.getBoundingClientRect();
  const frame = box.getBoundingClientRect();
  box.scrollTop += at.top - frame.top - (box.clientHeight - Math.min(at.height, box.clientHeight)) / 2;
}

/** The nearest ancestor that scrolls vertically. */
function scroller(el) {
  for (let node = el; node; node = node.parentElement) {
    if (/(auto|scroll)/.test(getComputedStyle(node).overflowY) && node.scrollHeight > node.clientHeight) return node;
  }
  return null;
}

function bar(score) {
  const el = h("span", { class: "score-bar", "aria-hidden": "true" }, h("span", { class: `score-fill ${scoreClass(score)}` }));
  el.firstChild.style.width = `${Math.max(0, Math.min(100, score ?? 0))}%`;
  return el;
}

function tally(x) {
  return `${x.supported} supported, ${x.partial} partial, ${x.unsupported} not`;
}

function formatScore(score) {
  return `${Number(score).toFixed(1)}%`;
}

function scoreClass(score) {
  if (score === null || score === undefined) return "score-none";
  return score >= 90 ? "score-good" : score >= 60 ? "score-fair" : "score-poor";
}
