// The job DAG: a layered left-to-right layout drawn with positioned buttons and SVG edges.
//
// Layer = longest path from a root; order within a layer by the mean position
// of a node's predecessors (two sweeps), which keeps most edges short and
// uncrossed for the usual CI shapes. Collapsed groups become one box whose
// status is the roll-up of its members.

import { fmtDuration, h, rollup } from "./format.js";

const W = 196;
const H = 50;
const GX = 56;
const GY = 12;
const SVG_NS = "http://www.w3.org/2000/svg";

function buildItems(nodes, collapsed) {
  const items = new Map();
  const itemOf = new Map();
  for (const n of nodes) {
    const g = (n.groups || []).find((name) => collapsed.has(name));
    const id = g ? `group:${g}` : n.id;
    itemOf.set(n.id, id);
    if (!items.has(id)) {
      items.set(id, g
        ? { id, kind: "group", group: g, label: g, members: [], deps: new Set() }
        : { id, kind: "node", label: n.id, node: n, members: [n], deps: new Set() });
    }
    if (g) items.get(id).members.push(n);
  }
  for (const n of nodes) {
    const to = itemOf.get(n.id);
    for (const d of n.deps || []) {
      const from = itemOf.get(d);
      if (from && from !== to) items.get(to).deps.add(from);
    }
  }
  for (const item of items.values()) {
    if (item.kind === "group") item.status = rollup(item.members.map((m) => m.display));
    else item.status = item.node.display;
  }
  return items;
}

function assignLayers(items) {
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0; // a cycle: the plan validator rejects these, stay safe
    visiting.add(id);
    let d = 0;
    for (const dep of items.get(id).deps) d = Math.max(d, depth(dep) + 1);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  for (const id of items.keys()) depth(id);
  const layers = [];
  for (const [id, d] of layer) (layers[d] ||= []).push(id);
  return layers.map((l) => l || []);
}

function orderLayers(layers, items) {
  const pos = new Map();
  layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i)));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let li = 1; li < layers.length; li++) {
      const score = (id) => {
        const deps = [...items.get(id).deps].filter((d) => pos.has(d));
        if (!deps.length) return pos.get(id);
        return deps.reduce((sum, d) => sum + pos.get(d), 0) / deps.length;
      };
      const scored = layers[li].map((id, i) => ({ id, s: score(id), i }));
      scored.sort((a, b) => a.s - b.s || a.i - b.i);
      layers[li] = scored.map((x) => x.id);
      layers[li].forEach((id, i) => pos.set(id, i));
    }
  }
  return layers;
}

function subtitle(item) {
  if (item.kind === "group") {
    const done = item.members.filter((m) => m.status === "done").length;
    return `${item.status.replace(/_/g, " ")} · ${done}/${item.members.length} done`;
  }
  const n = item.node;
  const label = n.display.replace(/_/g, " ");
  const parts = [n.display === "paused" && n.status_detail ? `${label} (${n.status_detail})` : label];
  if (n.elapsed !== null && n.elapsed !== undefined) parts.push(fmtDuration(n.elapsed));
  return parts.join(" · ");
}

/**
 * Draw the DAG of *nodes* into *container*.
 * nodes: [{id, deps, groups, display, status, elapsed, failure_reason, exit_code}]
 * opts: {collapsed: Set<group>, selected: id, onSelect(id), onToggleGroup(name)}
 */
export function renderDag(container, nodes, opts) {
  const items = buildItems(nodes, opts.collapsed);
  const layers = orderLayers(assignLayers(items), items);
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const width = Math.max(W, layers.length * (W + GX) - GX);
  const height = tallest * (H + GY) - GY;
  const at = new Map();
  layers.forEach((ids, li) => {
    const offset = ((tallest - ids.length) * (H + GY)) / 2;
    ids.forEach((id, i) => at.set(id, { x: li * (W + GX), y: offset + i * (H + GY) }));
  });

  const dag = h("div", { class: "dag", style: `width:${width}px;height:${height}px` });
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "edges");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  for (const item of items.values()) {
    const to = at.get(item.id);
    for (const dep of item.deps) {
      const from = at.get(dep);
      const x1 = from.x + W;
      const y1 = from.y + H / 2;
      const x2 = to.x;
      const y2 = to.y + H / 2;
      const path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`);
      const src = items.get(dep).status;
      if (item.status === "running") path.setAttribute("class", "hot");
      else if (src === "failed") path.setAttribute("class", "bad");
      svg.appendChild(path);
    }
  }
  dag.appendChild(svg);

  for (const item of items.values()) {
    const p = at.get(item.id);
    const isGroup = item.kind === "group";
    const classes = ["dag-node", `st-${item.status}`];
    if (isGroup) classes.push("group");
    if (!isGroup && item.id === opts.selected) classes.push("selected");
    const name = isGroup ? `▸ ${item.label} (${item.members.length})` : item.label;
    const sub = h("span", { class: "sub" }, subtitle(item));
    if (!isGroup && item.node.failure_reason) {
      sub.append(" ", h("span", { class: "badge" }, item.node.failure_reason.replace(/_/g, " ")));
    }
    if (!isGroup && item.node.exit_code !== null && item.node.exit_code !== undefined && item.node.exit_code !== 0) {
      sub.append(" ", h("span", { class: "badge" }, `exit ${item.node.exit_code}`));
    }
    const title = isGroup ? `group ${item.label}: click to expand` : `${item.label}: ${item.status}`;
    const el = h("button", {
      type: "button",
      class: classes.join(" "),
      style: `left:${p.x}px;top:${p.y}px;width:${W}px;height:${H}px`,
      title,
      dataset: isGroup ? { group: item.group, status: item.status } : { nodeId: item.id, status: item.status },
      onclick: () => (isGroup ? opts.onToggleGroup(item.group) : opts.onSelect(item.id)),
    }, h("span", { class: "name" }, name), sub);
    dag.appendChild(el);
  }
  container.replaceChildren(dag);
}
