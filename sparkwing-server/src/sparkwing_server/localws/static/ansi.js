// ANSI SGR rendering: text with escape sequences -> DOM spans with colour classes.
//
// Supports bold/dim/italic/underline, the 16 basic colours (as classes, so the
// theme controls them), 256-colour and 24-bit colours (inline styles), and
// resets. Other escape sequences (cursor movement, OSC titles) are dropped; a
// carriage return keeps only the text after it, as a terminal would show.

const ESC_RE = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

function xterm256(n) {
  if (n < 16) return null;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return `rgb(${steps[Math.floor(i / 36)]},${steps[Math.floor(i / 6) % 6]},${steps[i % 6]})`;
}

function freshState() {
  return { b: false, d: false, i: false, u: false, fg: null, bg: null, fgRGB: null, bgRGB: null };
}

function applySGR(state, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  for (let k = 0; k < codes.length; k++) {
    const c = codes[k];
    if (c === 0) Object.assign(state, freshState());
    else if (c === 1) state.b = true;
    else if (c === 2) state.d = true;
    else if (c === 3) state.i = true;
    else if (c === 4) state.u = true;
    else if (c === 22) { state.b = false; state.d = false; }
    else if (c === 23) state.i = false;
    else if (c === 24) state.u = false;
    else if (c >= 30 && c <= 37) { state.fg = c - 30; state.fgRGB = null; }
    else if (c >= 90 && c <= 97) { state.fg = c - 90 + 8; state.fgRGB = null; }
    else if (c === 39) { state.fg = null; state.fgRGB = null; }
    else if (c >= 40 && c <= 47) { state.bg = c - 40; state.bgRGB = null; }
    else if (c >= 100 && c <= 107) { state.bg = c - 100 + 8; state.bgRGB = null; }
    else if (c === 49) { state.bg = null; state.bgRGB = null; }
    else if (c === 38 || c === 48) {
      const fg = c === 38;
      let colour = null;
      let index = null;
      if (codes[k + 1] === 5 && k + 2 < codes.length) {
        const n = codes[k + 2];
        if (n < 16) index = n; else colour = xterm256(n);
        k += 2;
      } else if (codes[k + 1] === 2 && k + 4 < codes.length) {
        colour = `rgb(${codes[k + 2]},${codes[k + 3]},${codes[k + 4]})`;
        k += 4;
      }
      if (fg) { state.fg = index; state.fgRGB = colour; } else { state.bg = index; state.bgRGB = colour; }
    }
  }
}

function styled(state) {
  return state.b || state.d || state.i || state.u || state.fg !== null || state.bg !== null ||
    state.fgRGB !== null || state.bgRGB !== null;
}

function span(text, state) {
  if (!styled(state)) return document.createTextNode(text);
  const el = document.createElement("span");
  const cls = [];
  if (state.b) cls.push("b");
  if (state.d) cls.push("d");
  if (state.i) cls.push("i");
  if (state.u) cls.push("u");
  if (state.fg !== null) cls.push(`fg${state.fg}`);
  if (state.bg !== null) cls.push(`bg${state.bg}`);
  if (cls.length) el.className = cls.join(" ");
  if (state.fgRGB) el.style.color = state.fgRGB;
  if (state.bgRGB) el.style.background = state.bgRGB;
  el.textContent = text;
  return el;
}

function lastCarriageSegment(text) {
  const parts = text.split("\r");
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i] !== "") return parts[i];
  return "";
}

/** Render *text* (with ANSI escapes) into a DocumentFragment of spans. */
export function ansiFragment(text) {
  const frag = document.createDocumentFragment();
  const state = freshState();
  const source = text.includes("\r") ? lastCarriageSegment(text) : text;
  let last = 0;
  ESC_RE.lastIndex = 0;
  let m;
  while ((m = ESC_RE.exec(source)) !== null) {
    if (m.index > last) frag.appendChild(span(source.slice(last, m.index), state));
    if (m[2] === "m") applySGR(state, m[1] || "");
    last = ESC_RE.lastIndex;
  }
  if (last < source.length) frag.appendChild(span(source.slice(last), state));
  return frag;
}

/** Return *text* without ANSI escape sequences. */
export function stripAnsi(text) {
  return text.replace(ESC_RE, "");
}
