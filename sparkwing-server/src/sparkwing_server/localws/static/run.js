// The run page: header and actions, banners for approval gates and debug pauses,
// inputs, job DAG, the selected job's steps, output, failure excerpt and live log.
// Updates live from the run's event stream; step rows follow step_started /
// step_finished events. A poll while the run is in progress covers what has no
// event (fast until step events are seen on a healthy stream, then slow).

import { api, capabilities, hasFeature, nodePath, stream } from "./api.js";
import { renderDag } from "./dag.js";
import { badge, elapsed, fill, fmtAgo, fmtDuration, fmtTime, h, nodeStatus, shortSha } from "./format.js";
import { EV, STATE_KINDS } from "./kinds.js";
import { LogView, excerptBlock } from "./logview.js";

/** Step events: applied to the page's step rows directly (no reload). */
const STEP_KINDS = [EV.STEP_STARTED, EV.STEP_FINISHED];
/** Every other kind of the run's events reloads the run (events are named by kind on the stream). */
const RELOAD_KINDS = STATE_KINDS.filter((kind) => !STEP_KINDS.includes(kind));

const POLL_MS = 1500;
const POLL_SLOW_MS = 10000;
/** How long a page opened for a just-started retry waits for the run to be recorded. */
const START_WAIT_MS = 30000;
const MASK = "***";

/** Groups collapsed by the user, per run (kept while the tab lives). */
const collapsedByRun = new Map();

/**
 * The CI vendor job a ci-embedded run was recorded in (trigger extras: vendor,
 * repository, pull_request, branch, tag, build_id, job_url), or null.
 */
function ciMeta(run) {
  const trigger = (run.invocation && run.invocation.trigger) || {};
  const ci = trigger.extra || {};
  if (run.trigger_source !== "ci-embedded" || !ci.vendor) return null;
  const what = ci.pull_request ? `PR #${ci.pull_request}` : ci.tag ? `tag ${ci.tag}` : "";
  const label = [ci.repository, what, ci.build_id ? `build ${ci.build_id}` : ""].filter(Boolean).join(" ");
  const safeUrl = /^https?:\/\//i.test(ci.job_url || "") ? ci.job_url : "";
  const job = safeUrl ? h("a", { href: safeUrl, target: "_blank", rel: "noopener noreferrer", id: "ci-job" }, label || "job")
    : h("span", { id: "ci-job" }, label);
  return h("span", { class: "ci-meta" }, "ci ", h("b", {}, ci.vendor), label || safeUrl ? " " : "", label || safeUrl ? job : null);
}

function mergeNodes(detail) {
  const planNodes = (detail.run.plan && detail.run.plan.nodes) || [];
  const byId = new Map();
  for (const p of planNodes) {
    byId.set(p.id, { id: p.id, node_id: p.id, deps: p.deps || [], groups: p.groups || [], status: "pending",
      outcome: "", steps: [], plan: p });
  }
  for (const n of detail.nodes) {
    const plan = byId.get(n.node_id);
    byId.set(n.node_id, { ...n, id: n.node_id, plan: plan ? plan.plan : null,
      deps: n.deps && n.deps.length ? n.deps : (plan ? plan.deps : []),
      groups: n.groups && n.groups.length ? n.groups : (plan ? plan.groups : []) });
  }
  const nodes = [...byId.values()];
  for (const n of nodes) {
    n.display = nodeStatus(n);
    n.elapsed = n.started_at ? elapsed(n.started_at, n.finished_at) : null;
  }
  return nodes;
}

function stepsOf(node) {
  const rows = new Map((node.steps || []).map((s) => [s.step_id, s]));
  const out = [];
  for (const p of (node.plan && node.plan.steps) || []) {
    out.push({ id: p.id, row: rows.get(p.id) || null, plan: p });
    rows.delete(p.id);
  }
  for (const [id, row] of rows) out.push({ id, row, plan: null });
  return out;
}

function defaultSelection(nodes) {
  const pick = (pred) => nodes.find(pred);
  const n = pick((x) => x.display === "failed") || pick((x) => x.display === "running") ||
    pick((x) => x.display === "approval_pending") || pick((x) => x.display === "paused") || nodes[0];
  return n ? n.id : null;
}

function valueCell(value, secret) {
  if (secret || value === MASK) return h("span", { class: "secret", title: "secret input" }, MASK);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function kvTable(obj, secrets = []) {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h("div", { class: "muted" }, "none");
  return h("table", { class: "kv" }, h("tbody", {}, keys.map((k) =>
    h("tr", { dataset: { key: k } }, h("td", {}, k), h("td", {}, valueCell(obj[k], secrets.includes(k)))))));
}

/** Render the page of run *runId* into *root*; returns a cleanup function. */
export function runView(root, runId, params, setCrumbs) {
  setCrumbs([h("span", { class: "mono" }, runId)]);
  let detail = null;
  let nodes = [];
  let caps = { features: [] };
  let selected = params.get("node");
  let logView = null;
  let logFor = null;
  let excerptFor = null;
  let events = null;
  let pollTimer = null;
  let reloadTimer = null;
  let disposed = false;
  let cancelArmed = null;
  let streamUp = false;
  let stepEvents = false;
  let jobTimer = null;
  const openedAt = Date.now();
  /** Banner elements by "approval:<node>" / "pause:<node>", kept across renders (typed comments survive). */
  const bannerEls = new Map();
  const collapsed = collapsedByRun.get(runId) || new Set();
  collapsedByRun.set(runId, collapsed);

  const head = h("section", { class: "panel run-head", id: "run-head" });
  const dagBox = h("div", { class: "dag-wrap", id: "dag" });
  const groupsBox = h("div", { class: "groups", id: "groups" });
  const inputsBody = h("div", { class: "panel-body", id: "inputs" });
  const jobHead = h("div", { class: "panel-head", id: "job-head" });
  const excerptBox = h("div", { id: "excerpt" });
  const stepsBody = h("div", { class: "panel-body", id: "steps" });
  const outputBody = h("div", { class: "panel-body", id: "output", hidden: true });
  const logBox = h("div", { id: "log" });
  const approvalBox = h("div", { id: "approval" });
  const banners = h("div", { class: "banners", id: "banners" });
  const stepsBox = h("details", { class: "job-steps", open: true }, h("summary", { class: "panel-head" }, "Steps"), stepsBody);
  const job = h("section", { class: "panel", id: "job" }, jobHead, approvalBox, excerptBox, stepsBox,
    outputBody, logBox);
  root.replaceChildren(head, banners, h("div", { class: "run-grid" },
    h("div", {},
      h("section", { class: "panel", id: "jobs" }, h("h2", {}, "Jobs"), groupsBox, dagBox),
      h("section", { class: "panel" }, h("h2", {}, "Inputs"), inputsBody)),
    h("div", {}, job)));

  function renderHead() {
    const run = detail.run;
    const started = run.started_at || run.created_at;
    const actions = h("div", { class: "actions" });
    if (hasFeature(caps, "cancel") && !run.terminal) {
      const requested = !!run.cancel_requested_at;
      const btn = h("button", { type: "button", class: `btn danger${cancelArmed ? " confirm" : ""}`, id: "cancel",
        disabled: requested }, requested ? "Cancelling…" : cancelArmed ? "Confirm cancel" : "Cancel run");
      btn.addEventListener("click", async () => {
        if (!cancelArmed) {
          cancelArmed = setTimeout(() => { cancelArmed = null; renderHead(); }, 4000);
          renderHead();
          return;
        }
        clearTimeout(cancelArmed);
        cancelArmed = null;
        btn.disabled = true;
        try { await api(`/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" }); } catch (err) { alertLine(err); }
        reload();
      });
      actions.append(btn);
    }
    if (hasFeature(caps, "retry") && run.terminal) {
      if (run.status !== "success") actions.append(retryButton("retry", "failed", "Retry failed"));
      actions.append(retryButton("retry-all", "all", run.status === "success" ? "Run again" : "Retry all"));
    }
    const status = run.cancel_requested_at && !run.terminal ? "cancelling" : run.status;
    fill(head,
      h("div", { class: "run-title" }, h("h1", {}, run.pipeline), badge(status), h("span", { class: "mono muted" }, run.id), actions),
      h("div", { class: "meta" },
        run.git_branch ? h("span", {}, "branch ", h("b", {}, run.git_branch)) : null,
        run.git_sha ? h("span", {}, "commit ", h("b", { class: "mono" }, shortSha(run.git_sha)), run.git_dirty ? " (dirty)" : "") : null,
        h("span", {}, "trigger ", h("b", {}, run.trigger_source || "manual"), run.trigger_user ? ` by ${run.trigger_user}` : ""),
        ciMeta(run),
        h("span", { title: fmtTime(run.created_at) }, "started ", h("b", {}, fmtAgo(started))),
        h("span", {}, "duration ", h("b", { id: "run-duration", dataset: { start: started || "", end: run.finished_at || "" } },
          fmtDuration(elapsed(started, run.finished_at)))),
        run.profile ? h("span", {}, "profile ", h("b", {}, run.profile)) : null,
        run.retry_of ? h("span", {}, "retry of ", h("a", { href: `#/runs/${encodeURIComponent(run.retry_of)}` }, run.retry_of)) : null),
      run.error ? h("div", { class: "run-error", id: "run-error" }, run.error) : null);
  }

  function retryButton(id, mode, label) {
    const title = mode === "failed" ? "Run the failed and unreached jobs again; reuse the jobs that passed"
      : "Run every job again";
    const btn = h("button", { type: "button", class: "btn", id, title, dataset: { mode } }, label);
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        const res = await api(`/runs/${encodeURIComponent(runId)}/retry`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ mode }),
        });
        if (res && res.run_id) {
          location.hash = `#/runs/${encodeURIComponent(res.run_id)}${res.started ? "" : "?starting=1"}`;
        }
      } catch (err) {
        btn.disabled = false;
        alertLine(err);
      }
    });
    return btn;
  }

  function alertLine(err) {
    head.append(h("div", { class: "run-error" }, String(err.message || err)));
  }

  function renderInputs() {
    const run = detail.run;
    inputsBody.replaceChildren(kvTable(run.args, run.secret_args || []));
  }

  function renderGroups() {
    const names = new Map();
    for (const n of nodes) for (const g of n.groups || []) names.set(g, (names.get(g) || 0) + 1);
    groupsBox.hidden = names.size === 0;
    groupsBox.replaceChildren(...[...names].map(([g, count]) => {
      const isCollapsed = collapsed.has(g);
      return h("button", { type: "button", class: `btn small group-chip${isCollapsed ? "" : " on"}`,
        "aria-pressed": String(!isCollapsed), dataset: { group: g }, title: isCollapsed ? "expand group" : "collapse group",
        onclick: () => toggleGroup(g) }, `${isCollapsed ? "▸" : "▾"} ${g} (${count})`);
    }));
  }

  function toggleGroup(g) {
    if (collapsed.has(g)) collapsed.delete(g); else collapsed.add(g);
    renderGroups();
    renderDagNow();
  }

  function renderDagNow() {
    if (!nodes.length) {
      dagBox.replaceChildren(h("div", { class: "empty" }, "No jobs recorded yet."));
      return;
    }
    renderDag(dagBox, nodes, { collapsed, selected, onSelect: select, onToggleGroup: toggleGroup });
  }

  function select(id) {
    if (id === selected) return;
    selected = id;
    const url = new URL(location.href);
    url.hash = `#/runs/${encodeURIComponent(runId)}?node=${encodeURIComponent(id)}`;
    history.replaceState(null, "", url);
    renderDagNow();
    renderJob();
  }

  function renderJob() {
    const node = nodes.find((n) => n.id === selected);
    if (!node) {
      jobHead.replaceChildren(h("span", { class: "muted" }, "Select a job"));
      stepsBody.replaceChildren();
      excerptBox.replaceChildren();
      outputBody.hidden = true;
      if (logView) { logView.stop(); logView = null; logFor = null; logBox.replaceChildren(); }
      return;
    }
    const pause = (detail.pauses || []).find((p) => p.node_id === node.id && p.held);
    const pauseReason = (pause && pause.reason) || node.status_detail || "";
    fill(jobHead,
      h("span", { class: "mono", id: "job-name" }, node.id),
      node.display === "paused" && pauseReason ? badge("paused", `paused (${pauseReason})`) : badge(node.display),
      node.elapsed !== null ? h("span", { class: "muted" }, fmtDuration(node.elapsed)) : null,
      node.attempts > 1 ? h("span", { class: "muted" }, `attempt ${node.attempts}`) : null,
      node.failure_reason ? h("span", { class: "badge" }, node.failure_reason.replace(/_/g, " ")) : null,
      node.exit_code !== null && node.exit_code !== undefined && node.exit_code !== 0 ? h("span", { class: "badge" }, `exit ${node.exit_code}`) : null,
      node.status_detail && node.display !== "paused" && node.display !== "approval_pending"
        ? h("span", { class: "muted" }, node.status_detail) : null,
      node.error && node.display !== "failed"
        ? h("span", { class: "muted mono", id: "job-note", title: node.error }, node.error) : null);

    const steps = stepsOf(node);
    stepsBox.hidden = steps.length === 0;
    stepsBody.replaceChildren(steps.length
      ? h("ul", { class: "steps" }, steps.map((s) => {
        const st = s.row ? s.row.status : (node.display === "pending" || node.display === "running" ? "pending" : "skipped");
        return h("li", { dataset: { step: s.id, status: st } }, badge(st), h("span", { class: "step-id" }, s.id),
          s.row && s.row.error ? h("span", { class: "badge", title: s.row.error }, "error") : null,
          h("span", { class: "dur" }, s.row && s.row.started_at ? fmtDuration(elapsed(s.row.started_at, s.row.finished_at)) : ""));
      }))
      : h("div", { class: "muted" }, "No steps recorded."));

    if (node.has_output) {
      outputBody.hidden = false;
      const out = node.output;
      outputBody.replaceChildren(h("div", { class: "muted" }, "Output"),
        out !== null && typeof out === "object" && !Array.isArray(out)
          ? kvTable(out)
          : h("pre", { class: "output-json" }, JSON.stringify(out, null, 2)));
    } else {
      outputBody.hidden = true;
    }

    renderApproval(node);
    loadExcerpt(node);

    if (logFor !== node.id) {
      if (logView) logView.stop();
      logView = new LogView(runId, node.id, (stepId) => {
        const cur = nodes.find((n) => n.id === selected);
        const row = cur && (cur.steps || []).find((s) => s.step_id === stepId);
        return row ? row.status : null;
      });
      logFor = node.id;
      logBox.replaceChildren(logView.element);
      logView.start();
    } else if (logView) {
      logView.refreshSteps();
    }
  }

  /** What the selected job's approval gate asked and how it was decided (the controls are in the banner). */
  function renderApproval(node) {
    const ap = (detail.approvals || []).find((a) => a.node_id === node.id);
    if (!ap) { approvalBox.replaceChildren(); return; }
    const decided = ap.resolution
      ? [badge(ap.resolution === "approved" ? "success" : "failed", ap.resolution.replace(/_/g, " ")),
        ap.approver ? h("span", {}, " by ", h("b", {}, ap.approver)) : null,
        ap.comment ? h("span", { class: "approval-comment" }, `: ${ap.comment}`) : null]
      : [badge("approval_pending", "waiting for approval")];
    fill(approvalBox, h("div", { class: "panel-body approval-info", dataset: { node: ap.node_id } },
      ap.message ? h("div", { class: "banner-message" }, ap.message) : null,
      h("div", {}, ...decided)));
  }

  function renderBanners() {
    const want = [];
    if (!detail.run.terminal) {
      for (const a of detail.approvals || []) {
        const node = nodes.find((n) => n.id === a.node_id);
        if (a.pending && (!node || node.status === "approval_pending" || node.status === "pending")) {
          want.push({ key: `approval:${a.node_id}`, make: () => approvalBanner(a) });
        }
      }
      for (const p of detail.pauses || []) {
        if (p.held) want.push({ key: `pause:${p.node_id}`, make: () => pauseBanner(p) });
      }
    }
    const keep = new Set(want.map((w) => w.key));
    for (const [key, el] of bannerEls) {
      if (!keep.has(key)) { el.remove(); bannerEls.delete(key); }
    }
    for (const w of want) {
      if (bannerEls.has(w.key)) continue; // kept as is: a comment being typed survives reloads
      const el = w.make();
      bannerEls.set(w.key, el);
      banners.append(el);
    }
  }

  function approvalBanner(a) {
    const canAct = hasFeature(caps, "approvals");
    const note = h("span", { class: "note", role: "status" });
    const comment = h("input", { type: "text", class: "comment", placeholder: "Comment (optional)",
      maxlength: "4000", "aria-label": `Comment on ${a.node_id}` });
    const approve = h("button", { type: "button", class: "btn approve", dataset: { resolution: "approved" } }, "Approve");
    const deny = h("button", { type: "button", class: "btn danger deny", dataset: { resolution: "denied" } }, "Deny");
    const send = async (resolution) => {
      for (const el of [comment, approve, deny]) el.disabled = true;
      note.textContent = resolution === "approved" ? "approving…" : "denying…";
      try {
        const res = await api(`/runs/${encodeURIComponent(runId)}/approvals/${nodePath(a.node_id)}`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ resolution, comment: comment.value }),
        });
        const who = res && res.approval && res.approval.approver ? ` by ${res.approval.approver}` : "";
        note.textContent = `${resolution}${who}; the run continues…`;
      } catch (err) {
        for (const el of [comment, approve, deny]) el.disabled = false;
        note.textContent = String(err.message || err);
        note.classList.add("bad");
      }
      scheduleReload();
    };
    approve.addEventListener("click", () => send("approved"));
    deny.addEventListener("click", () => send("denied"));
    return h("section", { class: "panel banner approval-banner", dataset: { node: a.node_id },
      "aria-label": `approval ${a.node_id}` },
    h("div", { class: "banner-text" }, badge("approval_pending", "approval pending"),
      h("b", { class: "mono" }, a.node_id),
      a.message ? h("span", { class: "banner-message" }, a.message) : null),
    canAct
      ? h("div", { class: "banner-actions" }, comment, approve, deny, note)
      : h("div", { class: "muted mono" }, `sparkwing runs approvals approve --run ${runId} --node ${a.node_id}`));
  }

  function pauseBanner(p) {
    const canAct = hasFeature(caps, "pauses");
    const note = h("span", { class: "note", role: "status" });
    const release = h("button", { type: "button", class: "btn release" }, "Release");
    release.addEventListener("click", async () => {
      release.disabled = true;
      note.textContent = "releasing…";
      try {
        await api(`/runs/${encodeURIComponent(runId)}/nodes/${nodePath(p.node_id)}/release`, { method: "POST" });
        note.textContent = "released; the job continues…";
      } catch (err) {
        release.disabled = false;
        note.textContent = String(err.message || err);
        note.classList.add("bad");
      }
      scheduleReload();
    });
    const left = p.expires_at ? p.expires_at - Date.now() / 1000 : 0;
    const expires = left > 0 ? ` (released automatically in ${fmtDuration(left)})` : "";
    return h("section", { class: "panel banner pause-banner", dataset: { node: p.node_id },
      "aria-label": `pause ${p.node_id}` },
    h("div", { class: "banner-text" }, badge("paused", `paused (${p.reason})`),
      h("a", { class: "mono", href: `#/runs/${encodeURIComponent(runId)}?node=${encodeURIComponent(p.node_id)}`,
        onclick: (ev) => { ev.preventDefault(); select(p.node_id); } }, p.node_id),
      h("span", { class: "muted" }, `is held by a debug pause${expires}`)),
    canAct
      ? h("div", { class: "banner-actions" }, release, note)
      : h("div", { class: "muted mono" }, `sparkwing debug release --run ${runId} --node ${p.node_id}`));
  }

  /** Apply a step_started / step_finished event to the job's step rows. */
  function applyStepEvent(data) {
    let ev;
    try { ev = JSON.parse(data); } catch { return; }
    const p = (ev && ev.payload) || {};
    if (!p.step) return;
    stepEvents = true;
    const node = nodes.find((n) => n.id === ev.node_id);
    if (!node) { scheduleReload(); return; }
    node.steps = node.steps || [];
    let row = node.steps.find((s) => s.step_id === p.step);
    if (!row) {
      row = { run_id: runId, node_id: ev.node_id, step_id: p.step, started_at: ev.ts, finished_at: null,
        error: "", output: null, has_output: false };
      node.steps.push(row);
    }
    row.status = p.status || (ev.kind === EV.STEP_STARTED ? "running" : row.status);
    if (ev.kind === EV.STEP_STARTED) {
      row.started_at = ev.ts;
      row.finished_at = null;
    } else {
      row.started_at = row.started_at || ev.ts;
      row.finished_at = ev.ts;
    }
    row.error = p.error || "";
    if (node.id === selected && !jobTimer) {
      jobTimer = setTimeout(() => { jobTimer = null; if (!disposed) renderJob(); }, 50);
    }
  }

  async function loadExcerpt(node) {
    const failed = node.display === "failed";
    const key = `${node.id}:${node.finished_at || ""}`;
    if (!failed) { excerptBox.replaceChildren(); excerptFor = null; return; }
    if (excerptFor === key) return;
    excerptFor = key;
    try {
      const data = await api(`/runs/${encodeURIComponent(runId)}/nodes/${nodePath(node.id)}`);
      if (disposed || selected !== node.id) return;
      const ex = data.excerpt || { lines: [], error: node.error };
      fill(excerptBox, h("div", { class: "excerpt", dataset: { node: node.id } },
        h("div", { class: "excerpt-head" }, "Failure",
          ex.failure_reason ? h("span", { class: "badge" }, ex.failure_reason.replace(/_/g, " ")) : null,
          ex.exit_code !== null && ex.exit_code !== undefined ? h("span", { class: "badge" }, `exit ${ex.exit_code}`) : null),
        ex.error ? h("div", { class: "panel-body run-error" }, ex.error) : null,
        ex.lines && ex.lines.length ? excerptBlock(ex.lines) : h("div", { class: "panel-body muted" }, "No output was captured."),
        ex.truncated ? h("div", { class: "log-foot" }, "Showing the last lines; the full log is below.") : null));
    } catch (err) {
      excerptFor = null;
    }
  }

  function renderAll() {
    renderHead();
    renderBanners();
    renderInputs();
    renderGroups();
    renderDagNow();
    renderJob();
  }

  async function reload() {
    clearTimeout(reloadTimer);
    reloadTimer = null;
    try {
      detail = await api(`/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      if (disposed) return;
      if (err.status === 404 && params.has("starting") && Date.now() - openedAt < START_WAIT_MS) {
        fill(head, h("div", { class: "muted" }, `Waiting for run ${runId} to start…`));
        clearTimeout(pollTimer);
        pollTimer = setTimeout(reload, 500);
        return;
      }
      if (err.status === 404) {
        root.replaceChildren(h("div", { class: "panel empty" }, `Run ${runId} not found. `, h("a", { href: "#/" }, "All runs")));
        dispose();
        return;
      }
      schedulePoll();
      return;
    }
    if (disposed) return;
    nodes = mergeNodes(detail);
    if (!selected || !nodes.some((n) => n.id === selected)) selected = defaultSelection(nodes);
    renderAll();
    schedulePoll();
  }

  function scheduleReload() {
    if (!reloadTimer) reloadTimer = setTimeout(reload, 150);
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    if (disposed || !detail || detail.run.terminal) return;
    pollTimer = setTimeout(reload, stepEvents && streamUp ? POLL_SLOW_MS : POLL_MS);
  }

  const ticker = setInterval(() => {
    const el = document.getElementById("run-duration");
    if (el && el.dataset.start && !el.dataset.end) el.textContent = fmtDuration(elapsed(Number(el.dataset.start)));
  }, 1000);

  function dispose() {
    disposed = true;
    clearInterval(ticker);
    clearTimeout(pollTimer);
    clearTimeout(reloadTimer);
    clearTimeout(jobTimer);
    if (events) events.close();
    if (logView) logView.stop();
  }

  (async () => {
    caps = await capabilities();
    await reload();
    if (disposed) return;
    // "message": a frame without an event name (not sent today; reloading is always safe)
    const handlers = { [EV.STREAM_END]: () => reload(), message: scheduleReload };
    for (const kind of RELOAD_KINDS) handlers[kind] = scheduleReload;
    for (const kind of STEP_KINDS) handlers[kind] = applyStepEvent;
    handlers.error = () => { streamUp = false; };
    events = stream(`/runs/${encodeURIComponent(runId)}/events/stream`, handlers);
    events.source.addEventListener("open", () => { streamUp = true; });
  })();

  return dispose;
}
