// Talking to the dashboard's JSON API and its Server-Sent Events streams.

import { EV } from "./kinds.js";

const API = "/api/v1";

/** GET (or POST) a JSON endpoint; throws an Error carrying the server's message. */
export async function api(path, options = {}) {
  const res = await fetch(API + path, {
    headers: { Accept: "application/json" },
    ...options,
  });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

let capsPromise = null;

/** The server's capabilities (fetched once). */
export function capabilities() {
  if (!capsPromise) {
    capsPromise = api("/capabilities").catch(() => ({ features: [], read_only: true }));
  }
  return capsPromise;
}

/** Whether a feature is advertised by the server. */
export function hasFeature(caps, name) {
  return Array.isArray(caps.features) && caps.features.includes(name);
}

/** Encode a node id for a URL path, keeping "/" separators. */
export function nodePath(nodeId) {
  if (nodeId === "") return "_envelope";
  return nodeId.split("/").map(encodeURIComponent).join("/");
}

const connIssues = new Set();

function showConnection() {
  const el = document.getElementById("conn");
  if (!el) return;
  el.hidden = connIssues.size === 0;
  el.textContent = connIssues.size ? "reconnecting…" : "";
}

/**
 * Open an EventSource on *path* (under /api/v1). *handlers* maps event names
 * ("message" for unnamed events) to callbacks receiving (data, event). The
 * stream is closed on its end frame (EV.STREAM_END). Returns { close() }.
 */
export function stream(path, handlers) {
  const es = new EventSource(API + path);
  const key = Symbol(path);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    es.close();
    connIssues.delete(key);
    showConnection();
  };
  for (const [name, fn] of Object.entries(handlers)) {
    if (name === EV.STREAM_END || name === "error") continue;
    es.addEventListener(name, (ev) => fn(ev.data, ev));
  }
  es.addEventListener(EV.STREAM_END, (ev) => {
    close();
    if (handlers[EV.STREAM_END]) handlers[EV.STREAM_END](ev.data, ev);
  });
  es.addEventListener("open", () => { connIssues.delete(key); showConnection(); });
  es.addEventListener("error", () => {
    if (closed) return;
    connIssues.add(key);
    showConnection();
    if (handlers.error) handlers.error();
  });
  return { close, source: es };
}
