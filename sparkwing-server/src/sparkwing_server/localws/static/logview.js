// A job's live log: records streamed over SSE, grouped into collapsible step
// sections, ANSI colours, follow/pause, and in-place search.

import { ansiFragment, stripAnsi } from "./ansi.js";
import { CONFIG, nodePath, stream } from "./api.js";
import { badge, fmtDuration, h } from "./format.js";
import { EV } from "./kinds.js";

/** Records shown at most when a log is opened (the full log is a download away). */
const TAIL = 10000;

function recordText(rec) {
  const ev = rec.event || "";
  const attrs = rec.attrs || {};
  const msg = rec.msg || "";
  if (ev === EV.LOG_EXEC_LINE) return msg;
  if (ev === EV.LOG_EXEC_START) return msg || `$ ${attrs.cmd || ""}`;
  if (ev === EV.LOG_NODE_START) return "▶ job started";
  if (ev === EV.LOG_NODE_END) {
    const d = attrs.duration_ms !== undefined ? ` (${fmtDuration(attrs.duration_ms / 1000)})` : "";
    return `■ job ${attrs.outcome || "finished"}${d}${attrs.error ? `: ${attrs.error}` : ""}`;
  }
  if (ev === EV.LOG_STEP_END) {
    const d = attrs.duration_ms !== undefined ? ` (${fmtDuration(attrs.duration_ms / 1000)})` : "";
    return `■ step ${rec.step || attrs.step || ""} ${attrs.outcome || ""}${d}${attrs.error ? `: ${attrs.error}` : ""}`;
  }
  if (ev === EV.LOG_STEP_SKIPPED) return `- step ${rec.step || attrs.step || ""} skipped${attrs.reason ? ` (${attrs.reason})` : ""}`;
  if (msg) return msg;
  return ev;
}

/** Render one record's content into *el* (colours kept, or the search term marked). */
function fillLine(el, rec, needle) {
  const text = recordText(rec);
  el.replaceChildren();
  if (needle) {
    const plain = stripAnsi(text);
    const lower = plain.toLowerCase();
    let from = 0;
    let at;
    while ((at = lower.indexOf(needle, from)) !== -1) {
      if (at > from) el.append(plain.slice(from, at));
      el.append(h("mark", {}, plain.slice(at, at + needle.length)));
      from = at + needle.length;
    }
    el.append(plain.slice(from));
    return;
  }
  const ev = rec.event || "";
  if (ev === EV.LOG_EXEC_LINE || (!ev && rec.level !== "error" && rec.level !== "warn")) {
    el.append(ansiFragment(text));
  } else if (ev === EV.LOG_EXEC_START) {
    el.append(h("span", { class: "cmd" }, text));
  } else if (rec.level === "error") {
    el.append(h("span", { class: "lvl-error" }, text));
  } else if (rec.level === "warn") {
    el.append(h("span", { class: "lvl-warn" }, text));
  } else {
    el.append(h("span", { class: "ev" }, text));
  }
}

export class LogView {
  /**
   * runId, nodeId: the stream to show. stepStatus(stepId) -> status for
   * section headers (from the step rows), may return null.
   */
  constructor(runId, nodeId, stepStatus) {
    this.runId = runId;
    this.nodeId = nodeId;
    this.stepStatus = stepStatus || (() => null);
    this.follow = true;
    this.needle = "";
    this.count = 0;
    this.matches = 0;
    this.sections = new Map();
    this.pending = [];
    this.flushTimer = null;
    this.ended = false;

    this.followBtn = h("button", { type: "button", class: "btn small on", "aria-pressed": "true",
      onclick: () => this.setFollow(!this.follow) }, "Follow");
    this.search = h("input", { type: "search", placeholder: "Search this log", "aria-label": "Search this log",
      oninput: () => this.applySearch(this.search.value) });
    this.countEl = h("span", { class: "count" });
    const raw = `${CONFIG.api}/runs/${encodeURIComponent(runId)}/logs/${nodePath(nodeId)}`;
    this.tools = h("div", { class: "log-tools" }, this.followBtn, this.search, this.countEl,
      h("a", { href: `${raw}?format=plain`, target: "_blank", class: "btn small" }, "Plain"),
      h("a", { href: `${raw}?format=raw`, target: "_blank", class: "btn small" }, "JSONL"));
    this.body = h("div", { class: "log", tabindex: "0", role: "log", "aria-label": `log of ${nodeId}`,
      dataset: { node: nodeId } });
    this.foot = h("div", { class: "log-foot" }, "connecting…");
    this.element = h("div", { class: "logview" }, this.tools, this.body, this.foot);
    this.body.addEventListener("scroll", () => {
      const atBottom = this.body.scrollHeight - this.body.scrollTop - this.body.clientHeight < 24;
      // A search hides lines, and the shorter log clamps its scroll position to the bottom:
      // that scroll is the filter's doing, not the reader's, so it does not resume following.
      if (atBottom && this.needle) return;
      if (atBottom !== this.follow) this.setFollow(atBottom, false);
    });
  }

  start() {
    const path = `/runs/${encodeURIComponent(this.runId)}/logs/${nodePath(this.nodeId)}/stream?tail=${TAIL}`;
    this.stream = stream(path, {
      message: (data) => this.push(data),
      [EV.STREAM_END]: () => { this.ended = true; this.flush(); },
    });
    this.foot.textContent = "live";
  }

  stop() {
    if (this.stream) this.stream.close();
    clearTimeout(this.flushTimer);
  }

  setFollow(on, scroll = true) {
    this.follow = on;
    this.followBtn.classList.toggle("on", on);
    this.followBtn.setAttribute("aria-pressed", String(on));
    this.followBtn.textContent = on ? "Follow" : "Paused";
    if (on && scroll) this.body.scrollTop = this.body.scrollHeight;
  }

  push(data) {
    let rec;
    try { rec = JSON.parse(data); } catch { rec = { msg: data }; }
    if (!rec || typeof rec !== "object") rec = { msg: String(data) };
    this.pending.push(rec);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), 30);
  }

  section(step) {
    let sec = this.sections.get(step);
    if (!sec) {
      const status = h("span", { class: "sec-status" });
      const dur = h("span", { class: "muted" });
      const summary = h("summary", {}, h("span", {}, step), status, dur);
      const box = h("details", { class: "section", open: true, dataset: { step } }, summary);
      sec = { box, status, dur };
      this.sections.set(step, sec);
      this.body.appendChild(box);
      this.setSectionStatus(step, this.stepStatus(step) || "running");
    }
    return sec;
  }

  setSectionStatus(step, status, durationMs) {
    const sec = this.sections.get(step);
    if (!sec || !status) return;
    sec.status.replaceChildren(badge(status));
    if (durationMs !== undefined) sec.dur.textContent = fmtDuration(durationMs / 1000);
  }

  /** Refresh section headers from step rows (called when the run reloads). */
  refreshSteps() {
    for (const step of this.sections.keys()) {
      const st = this.stepStatus(step);
      if (st) this.setSectionStatus(step, st);
    }
  }

  flush() {
    this.flushTimer = null;
    const batch = this.pending;
    this.pending = [];
    for (const rec of batch) this.append(rec);
    this.countEl.textContent = this.needle ? `${this.matches} matching of ${this.count}` : `${this.count} lines`;
    this.foot.textContent = this.ended ? `end of log · ${this.count} lines` : "live";
    if (this.follow) this.body.scrollTop = this.body.scrollHeight;
  }

  append(rec) {
    const ev = rec.event || "";
    const stepMarker = ev === EV.LOG_STEP_START || ev === EV.LOG_STEP_END || ev === EV.LOG_STEP_SKIPPED;
    const step = rec.step || (stepMarker && rec.attrs && rec.attrs.step) || "";
    if (ev === EV.LOG_STEP_START) { this.section(step); return; }
    if (ev === EV.LOG_STEP_END || ev === EV.LOG_STEP_SKIPPED) {
      this.section(step);
      const outcome = (rec.attrs && rec.attrs.outcome) || (ev === EV.LOG_STEP_SKIPPED ? "skipped" : "");
      const status = outcome === "success" ? "passed" : outcome;
      this.setSectionStatus(step, status, rec.attrs && rec.attrs.duration_ms);
      if (!(rec.attrs && rec.attrs.error) && ev === EV.LOG_STEP_END) return;
    }
    const line = h("div", { class: "line" });
    line._rec = rec;
    fillLine(line, rec, this.needle);
    this.count += 1;
    if (this.needle) {
      const hit = stripAnsi(recordText(rec)).toLowerCase().includes(this.needle);
      line.classList.toggle("miss", !hit);
      if (hit) this.matches += 1;
    }
    (step ? this.section(step).box : this.body).appendChild(line);
  }

  applySearch(value) {
    this.needle = value.trim().toLowerCase();
    this.matches = 0;
    for (const line of this.body.querySelectorAll(".line")) {
      const rec = line._rec;
      fillLine(line, rec, this.needle);
      const hit = !this.needle || stripAnsi(recordText(rec)).toLowerCase().includes(this.needle);
      line.classList.toggle("miss", !hit);
      if (hit && this.needle) this.matches += 1;
    }
    if (this.needle) this.setFollow(false, false);
    this.countEl.textContent = this.needle ? `${this.matches} matching of ${this.count}` : `${this.count} lines`;
  }
}

/** A <pre> of excerpt lines with ANSI colours. */
export function excerptBlock(lines) {
  const pre = h("pre", {});
  for (const text of lines) {
    const line = h("div", { class: "line" });
    line.append(ansiFragment(text));
    pre.appendChild(line);
  }
  return pre;
}
