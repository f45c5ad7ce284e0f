// The sparkwing dashboard: a tiny hash router over two views (runs list, run page).

import { CONFIG, capabilities, whoami } from "./api.js";
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
if (CONFIG.mode === "controller") {
  // The team controller: who is logged in, and a way out.
  whoami().then((who) => {
    if (!who || who.kind === "none") return;
    const user = h("span", { id: "user", class: "tag", title: (who.scopes || []).join(", ") }, who.principal);
    const out = h("button", { type: "button", class: "btn small", id: "logout" }, "Log out");
    out.addEventListener("click", async () => {
      out.disabled = true;
      try {
        await fetch(CONFIG.logout, { method: "POST", headers: { "X-CSRF-Token": who.csrf_token || "" } });
      } finally {
        location.assign(CONFIG.login);
      }
    });
    document.getElementById("mode").after(user, out);
  });
}
route();
