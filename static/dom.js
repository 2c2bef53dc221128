// DOM building and formatting helpers. Text from mail only ever becomes a Text node.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Build an element: h("a", {href, class: "x", dataset: {id: 1}}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append strings (as text), nodes, arrays of either; skip null/false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An icon from the sprite in index.html. */
export function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// -- formatting ------------------------------------------------------------------------

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const exactFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short", year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const yearFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

export function exactTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : exactFormat.format(date);
}

export function relativeTime(iso, now = Date.now()) {
  const date = new Date(iso);
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 7) return `${days} d ago`;
  return new Date(now).getFullYear() === date.getFullYear() ? dayFormat.format(date) : yearFormat.format(date);
}

/** A <time> that shows a relative time and the exact one on hover; refreshed by refreshTimes. */
export function timeEl(iso, cls = "when") {
  return h("time", { class: cls, datetime: iso, title: exactTime(iso) }, relativeTime(iso));
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[datetime].when")) {
    el.textContent = relativeTime(el.getAttribute("datetime"), now);
  }
}

export function shortAddress(addr) {
  if (!addr) return "";
  return addr.name || addr.address;
}

/** "Name <addr>" as nodes: the name plain, the address muted. */
export function addressNodes(addrs) {
  const out = [];
  addrs.forEach((addr, i) => {
    if (i) out.push(", ");
    if (addr.name) {
      out.push(h("span", { class: "addr" }, addr.name, " ", h("span", { class: "addr-email" }, `<${addr.address}>`)));
    } else {
      out.push(h("span", { class: "addr" }, addr.address || "(empty)"));
    }
  });
  return out;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
