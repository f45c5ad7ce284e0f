// Small helpers: DOM building, times, durations, statuses.

/** Create an element: h("div", {class: "x", onclick: fn}, child, "text", ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace the children of *el*, skipping null/undefined/false entries. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** "1h 02m", "3m 07s", "12.3s". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  const s = Math.max(0, seconds);
  if (s < 60) return s < 10 ? `${s.toFixed(1)}s` : `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const hrs = Math.floor(m / 60);
  return `${hrs}h ${String(m % 60).padStart(2, "0")}m`;
}

/** Seconds from *start* to *end* (or now while it is still going). */
export function elapsed(start, end) {
  if (!start) return null;
  return (end || Date.now() / 1000) - start;
}

/** "just now", "5m ago", "3h ago", "2d ago". */
export function fmtAgo(ts) {
  if (!ts) return "";
  const s = Date.now() / 1000 - ts;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Local date and time for tooltips. */
export function fmtTime(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "";
}

/** The status a node shows: its outcome once done, else its lifecycle status. */
export function nodeStatus(node) {
  if (!node) return "pending";
  if (node.status === "done") return node.outcome || "success";
  return node.status || "pending";
}

/** A status badge element. */
export function badge(status, label) {
  return h("span", { class: `status st-${status}`, dataset: { status } }, label || status.replace(/_/g, " "));
}

const LIVE = new Set(["pending", "running", "approval_pending", "paused"]);

/** Whether a node or run status is still in progress. */
export function isLive(status) {
  return LIVE.has(status);
}

/** Rank used to roll several statuses up into one (worst first). */
const RANK = ["failed", "running", "approval_pending", "paused", "pending", "cancelled", "superseded",
  "success", "cached", "satisfied", "skipped-concurrent", "skipped"];

/** Roll a list of statuses up into one (a group's status). */
export function rollup(statuses) {
  let best = null;
  for (const s of statuses) {
    const r = RANK.indexOf(s);
    const rank = r < 0 ? RANK.length : r;
    if (best === null || rank < best.rank) best = { s, rank };
  }
  return best ? best.s : "pending";
}

/** Short commit id. */
export function shortSha(sha) {
  return sha ? sha.slice(0, 8) : "";
}
