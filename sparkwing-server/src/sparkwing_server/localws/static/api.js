// Talking to the dashboard's JSON API and its Server-Sent Events streams.
//
// The page carries its settings (#sparkwing-ui-config): where the API is, and whether
// it is the local dashboard ("local") or the team controller ("controller"), where the
// caller logged in: writes then carry the session's CSRF token, a 401 goes back to the
// login page, and features the caller's scopes do not grant are not offered.

import { EV } from "./kinds.js";

function readConfig() {
  const el = document.getElementById("sparkwing-ui-config");
  try { return { mode: "local", api: "/api/v1", ...(el ? JSON.parse(el.textContent) : {}) }; } catch {
    return { mode: "local", api: "/api/v1" };
  }
}

/** The page's settings: { mode, api, whoami?, login?, logout? }. */
export const CONFIG = readConfig();
const API = CONFIG.api;
const TEAM = CONFIG.mode === "controller";
let csrfToken = "";

/** Send the browser to the login page, coming back here afterwards. */
export function toLogin() {
  location.assign(`${CONFIG.login || "/login"}?next=${encodeURIComponent(location.pathname + location.hash)}`);
}

/** GET (or POST) a JSON endpoint; throws an Error carrying the server's message. */
export async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const method = (options.method || "GET").toUpperCase();
  if (TEAM && csrfToken && method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
  const res = await fetch(API + path, { ...options, headers });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    if (TEAM && res.status === 401) toLogin();
    const err = new Error((body && (body.message || body.error)) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

let whoPromise = null;

/** Who the caller is on the controller ({principal, name, scopes, csrf_token?}); null locally. */
export function whoami() {
  if (!whoPromise) {
    whoPromise = !TEAM ? Promise.resolve(null) : fetch(CONFIG.whoami, { headers: { Accept: "application/json" } })
      .then(async (res) => {
        if (res.status === 401) { toLogin(); return null; }
        const who = res.ok ? await res.json() : null;
        if (who && who.csrf_token) csrfToken = who.csrf_token;
        return who;
      })
      .catch(() => null);
  }
  return whoPromise;
}

/** Whether *who* holds *scope* (admin holds every scope; an open controller grants all). */
export function granted(who, scope) {
  if (!TEAM || !scope) return true;
  if (!who) return false;
  if (who.kind === "none") return true;
  const scopes = who.scopes || [];
  return scopes.includes("admin") || scopes.includes(scope);
}

let capsPromise = null;

/**
 * The server's capabilities (fetched once). On the controller, features whose scope
 * (caps.feature_scopes) the caller does not hold are removed: their buttons are not shown.
 */
export function capabilities() {
  if (!capsPromise) {
    capsPromise = Promise.all([api("/capabilities"), whoami()])
      .then(([caps, who]) => {
        const needs = caps.feature_scopes || {};
        caps.features = (caps.features || []).filter((f) => granted(who, needs[f]));
        return caps;
      })
      .catch(() => ({ features: [], read_only: true }));
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
