// Event kinds, as the server names them (sparkwing.events): never copied into these scripts.
// The page carries them in <script type="application/json" id="sparkwing-event-kinds">
// ({state: {NAME: kind}, log: {...}, stream: {...}}); GET /api/v1/events/kinds serves the same.

const ELEMENT_ID = "sparkwing-event-kinds";

function served() {
  const el = document.getElementById(ELEMENT_ID);
  if (!el) throw new Error(`the page has no #${ELEMENT_ID}: open the dashboard from its server`);
  const data = JSON.parse(el.textContent);
  return { state: data.state || {}, log: data.log || {}, stream: data.stream || {} };
}

const KINDS = served();

/**
 * Every kind by its Python name: EV.NODE_STARTED, EV.LOG_EXEC_LINE, EV.STREAM_END.
 * Reading a name the server does not define throws, so a renamed kind fails loudly.
 */
export const EV = new Proxy(Object.freeze({ ...KINDS.state, ...KINDS.log, ...KINDS.stream }), {
  get(target, name) {
    if (typeof name === "string" && !Object.prototype.hasOwnProperty.call(target, name)) {
      throw new Error(`unknown event kind name ${name}`);
    }
    return target[name];
  },
});

/** The kinds of a run's event stream (state store). */
export const STATE_KINDS = Object.freeze(Object.values(KINDS.state));

/** The markers of log records. */
export const LOG_KINDS = Object.freeze(Object.values(KINDS.log));
