// The runs list: filters, search, live first page over SSE, older pages on demand.

import { api, stream } from "./api.js";
import { badge, elapsed, fmtAgo, fmtDuration, fmtTime, h, shortSha } from "./format.js";
import { EV } from "./kinds.js";

const STATUSES = ["", "running", "pending", "success", "failed", "cancelled"];

/** Remembered across visits to the list within this tab. */
const filters = { search: "", pipeline: "", status: "", branch: "", project: "" };

/** The last part of a project's root path (its full path is the title). */
function projectName(project) {
  const parts = (project || "").split("/").filter(Boolean);
  return parts.length ? parts[parts.length - 1] : "";
}

function query(extra = {}) {
  const q = new URLSearchParams();
  if (filters.project) q.set("project", filters.project);
  if (filters.search) q.set("search", filters.search);
  if (filters.pipeline) q.set("pipeline", filters.pipeline);
  if (filters.status) q.set("status", filters.status);
  if (filters.branch) q.set("branch", filters.branch);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

function row(run) {
  const href = `#/runs/${encodeURIComponent(run.id)}`;
  const started = run.started_at || run.created_at;
  const dur = h("td", { class: "c-duration", dataset: { start: started || "", end: run.finished_at || "" } },
    fmtDuration(elapsed(started, run.finished_at)));
  const branch = run.git_branch || run.git_sha
    ? h("span", {}, run.git_branch || "", run.git_sha ? h("span", { class: "mono muted" }, ` @${shortSha(run.git_sha)}`) : "")
    : h("span", { class: "muted" }, "—");
  return h("tr", { class: "run-row", dataset: { runId: run.id, status: run.status },
    onclick: (ev) => { if (!ev.target.closest("a")) location.hash = href; } },
  h("td", { class: "c-status" }, badge(run.status), flags(run)),
  h("td", { class: "pipeline" }, h("a", { href }, run.pipeline)),
  h("td", { class: "id c-id" }, run.id),
  h("td", { class: "c-branch" }, branch),
  h("td", { class: "c-project", title: run.project || "" },
    run.project ? projectName(run.project) : h("span", { class: "muted" }, "—")),
  h("td", { class: "c-trigger" }, run.trigger_source || ""),
  h("td", { class: "c-started", title: fmtTime(run.created_at) }, fmtAgo(run.created_at)),
  dur);
}

/** Badges for what a live run waits on: approval gates and debug pauses. */
function flags(run) {
  const out = [];
  const gates = run.pending_approvals || [];
  if (gates.length) {
    out.push(h("span", { class: "status st-approval_pending flag", dataset: { flag: "approval" },
      title: `waiting for approval: ${gates.join(", ")}` }, "approval pending"));
  }
  const paused = run.paused_nodes || [];
  if (paused.length) {
    out.push(h("span", { class: "status st-paused flag", dataset: { flag: "paused" },
      title: `paused: ${paused.join(", ")}` }, "paused"));
  }
  return out;
}

/** Render the runs list into *root*; returns a cleanup function. */
export function runsView(root, setCrumbs) {
  setCrumbs([]);
  const pipelines = new Set();
  const datalist = h("datalist", { id: "pipeline-names" });
  const tbody = h("tbody", {});
  const older = h("tbody", {});
  const emptyEl = h("div", { class: "empty", hidden: true }, "No runs match. Start one with: sparkwing run <pipeline>");
  const moreBtn = h("button", { type: "button", class: "btn", onclick: () => loadMore() }, "Load older runs");
  const moreBar = h("div", { class: "more", hidden: true }, moreBtn);
  let cursor = null;
  let live = null;
  let olderLoaded = false;

  const input = (key, attrs) => {
    const el = h("input", { ...attrs, value: filters[key] });
    let timer = null;
    el.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { filters[key] = el.value.trim(); restart(); }, 250);
    });
    return el;
  };
  const statusSel = h("select", { "aria-label": "Status", onchange: () => { filters.status = statusSel.value; restart(); } },
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s || "any status")));
  const projectSel = h("select", { "aria-label": "Project", name: "project",
    onchange: () => { filters.project = projectSel.value; restart(); } });
  const fillProjects = (listing) => {
    const known = listing.projects.map((p) => p.id);
    if (filters.project && !known.includes(filters.project)) known.push(filters.project);
    projectSel.replaceChildren(h("option", { value: "", selected: !filters.project }, "all projects"),
      ...known.map((id) => h("option", { value: id, title: id, selected: id === filters.project },
        projectName(id) + (id === listing.current ? " (this project)" : ""))));
  };
  fillProjects({ projects: [], current: null });
  api("/projects").then(fillProjects).catch(() => {});
  const bar = h("div", { class: "filters" },
    projectSel,
    input("search", { type: "search", placeholder: "Search runs (id, pipeline, branch, sha…)", "aria-label": "Search runs", name: "search" }),
    input("pipeline", { type: "text", placeholder: "Pipeline", list: "pipeline-names", "aria-label": "Pipeline", name: "pipeline" }),
    statusSel,
    input("branch", { type: "text", placeholder: "Branch", "aria-label": "Branch", name: "branch" }),
    datalist);

  const table = h("table", { class: "runs-table" },
    h("thead", {}, h("tr", {},
      h("th", { class: "c-status" }, "Status"), h("th", {}, "Pipeline"), h("th", { class: "c-id" }, "Run"),
      h("th", { class: "c-branch" }, "Branch / commit"), h("th", { class: "c-project" }, "Project"),
      h("th", { class: "c-trigger" }, "Trigger"),
      h("th", { class: "c-started" }, "Started"), h("th", { class: "c-duration" }, "Duration"))),
    tbody, older);
  root.replaceChildren(h("section", { class: "panel", id: "runs" },
    h("h2", {}, "Runs"), bar, h("div", { class: "table-wrap" }, table), emptyEl, moreBar));

  function notePipelines(runs) {
    let added = false;
    for (const r of runs) if (!pipelines.has(r.pipeline)) { pipelines.add(r.pipeline); added = true; }
    if (added) datalist.replaceChildren(...[...pipelines].sort().map((p) => h("option", { value: p })));
  }

  function showPage(page) {
    notePipelines(page.runs);
    tbody.replaceChildren(...page.runs.map(row));
    if (!olderLoaded) cursor = page.next_cursor;
    moreBar.hidden = !cursor;
    emptyEl.hidden = page.runs.length > 0 || older.children.length > 0;
  }

  async function loadMore() {
    if (!cursor) return;
    moreBtn.disabled = true;
    try {
      const page = await api(`/runs${query({ cursor })}`);
      notePipelines(page.runs);
      olderLoaded = true;
      older.append(...page.runs.map(row));
      cursor = page.next_cursor;
      moreBar.hidden = !cursor;
    } finally {
      moreBtn.disabled = false;
    }
  }

  function restart() {
    if (live) live.close();
    older.replaceChildren();
    olderLoaded = false;
    cursor = null;
    live = stream(`/runs/stream${query()}`, { [EV.STREAM_RUNS_PAGE]: (data) => showPage(JSON.parse(data)) });
  }

  const ticker = setInterval(() => {
    for (const td of root.querySelectorAll("td.c-duration")) {
      if (td.dataset.start && !td.dataset.end) td.textContent = fmtDuration(elapsed(Number(td.dataset.start)));
    }
  }, 1000);
  restart();
  return () => { clearInterval(ticker); if (live) live.close(); };
}
