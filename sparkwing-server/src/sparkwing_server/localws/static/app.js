// The sparkwing dashboard: a tiny hash router over two views (runs list, run page).

import { capabilities } from "./api.js";
import { h } from "./format.js";
import { runView } from "./run.js";
import { runsView } from "./runs.js";

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
let cleanup = null;

function setCrumbs(items) {
  crumbs.replaceChildren(...items.flatMap((item) => [h("span", { class: "muted" }, "/"), item]));
}

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?");
  const params = new URLSearchParams(qs || "");
  const m = path.match(/^\/runs\/([^/]+)\/?$/);
  if (m) {
    const runId = decodeURIComponent(m[1]);
    document.title = `${runId} · sparkwing`;
    cleanup = runView(view, runId, params, setCrumbs);
  } else {
    document.title = "runs · sparkwing";
    cleanup = runsView(view, setCrumbs);
  }
}

window.addEventListener("hashchange", route);
capabilities().then((caps) => {
  const mode = document.getElementById("mode");
  if (caps.read_only) {
    mode.hidden = false;
    mode.textContent = "read-only";
  }
});
route();
