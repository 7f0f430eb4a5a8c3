// Chitin's web console: speaks the gateway's WebSocket protocol (docs/protocol.md) at /ws.
//
// Everything that comes from the gateway (model output, tool output, session titles, plugin
// names, sender names) is untrusted and only ever reaches the page through textContent.
'use strict';

const PROTOCOL = 1;
const CLIENT = { name: 'chitin-webui', version: '0.1.0' };
const TOKEN_KEY = 'chitin.token';
const SESSION_KEY = 'chitin.session.'; // + agent id

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

const $ = (id) => document.getElementById(id);

/** Builds an element; `props` may hold class, testid, text, title, data (object), on (object). */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const show = (node, visible) => node.classList.toggle('hidden', !visible);

/** Pretty-prints tool arguments: JSON when they parse, verbatim otherwise. */
function pretty(value) {
  if (typeof value !== 'string') return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${m % 60}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

function ago(ms) {
  return ms ? `${duration(Date.now() - ms)} ago` : '';
}

function bytes(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1 << 30) return `${+(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${+(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${+(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function toast(message, kind = 'error') {
  const node = h('div', { class: `toast ${kind}`, testid: 'toast', role: 'status', text: message });
  $('toasts').append(node);
  setTimeout(() => node.remove(), 6000);
}

// ---------------------------------------------------------------------------------------------
// The connection

class GatewayError extends Error {
  constructor(error) {
    super(error.message || error.code || 'request failed');
    this.code = error.code || 'INTERNAL';
    this.retryable = !!error.retryable;
    this.retryAfterMs = error.retryAfterMs;
    this.details = error.details;
  }
}

class Connection {
  constructor(url, { onEvent, onClose }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.pending = new Map();
    this.nextId = 1;
    this.seq = 0;
    this.ws = null;
    this.hello = null;
  }

  /** Opens the socket and sends `connect`; resolves with the hello payload. */
  open(token) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.addEventListener('open', () => {
        const params = { minProtocol: PROTOCOL, maxProtocol: PROTOCOL, client: CLIENT };
        if (token) params.auth = { token };
        this.request('connect', params).then(
          (hello) => { settled = true; this.hello = hello; resolve(hello); },
          (err) => { settled = true; reject(err); },
        );
      });
      ws.addEventListener('message', (ev) => this.receive(ev.data));
      ws.addEventListener('close', (ev) => {
        const lost = new GatewayError({ code: 'DISCONNECTED', message: 'the connection to the gateway was lost' });
        for (const { reject: fail } of this.pending.values()) fail(lost);
        this.pending.clear();
        if (!settled) {
          settled = true;
          reject(new GatewayError({
            code: 'DISCONNECTED',
            message: ev.reason || `could not reach the gateway (close code ${ev.code})`,
            retryable: true,
          }));
        } else if (this.hello) {
          this.onClose(ev);
        }
      });
    });
  }

  request(method, params) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new GatewayError({ code: 'DISCONNECTED', message: 'not connected to the gateway' }));
    }
    const id = String(this.nextId++);
    const frame = { type: 'req', id, method };
    if (params !== undefined) frame.params = params;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(frame));
    });
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('chitin: unparseable frame from the gateway');
      return;
    }
    if (frame.type === 'res') {
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      if (frame.ok) waiter.resolve(frame.payload || {});
      else waiter.reject(new GatewayError(frame.error || {}));
    } else if (frame.type === 'event') {
      const gap = typeof frame.seq === 'number' && this.seq && frame.seq !== this.seq + 1;
      if (typeof frame.seq === 'number') this.seq = frame.seq;
      this.onEvent(frame.event, frame.payload || {}, gap);
    }
  }

  close() {
    this.hello = null; // no onClose for a close we asked for
    if (this.ws) this.ws.close(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// State

const state = {
  conn: null,
  hello: null,
  token: '',
  wantConnected: false, // reconnect after a drop
  attempt: 0,
  reconnectTimer: null,
  countdown: null,
  tab: 'chat',
  agent: null,
  sessionKey: null,
  sessions: [],
  localSessions: new Map(), // agent -> Set of keys created here and not yet listed by the server
  historyLoad: 0,
  runs: new Set(), // every run still going, with or without its runId yet
  runsById: new Map(), // runId -> run
  orphanEvents: new Map(), // runId -> events that arrived before chat.send answered
  approvals: new Map(), // id -> approval
  pairing: new Map(), // code -> pairing request
  status: null,
  statusAt: 0,
  clients: 0,
};

const wsUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

function setConnState(kind, label) {
  const node = $('conn-status');
  node.dataset.state = kind;
  node.textContent = label;
  $('conn-dot').className = `dot ${kind}`;
  document.body.classList.toggle('offline', kind !== 'connected' && !!state.hello);
}

function request(method, params) {
  if (!state.conn) return Promise.reject(new GatewayError({ code: 'DISCONNECTED', message: 'not connected' }));
  return state.conn.request(method, params);
}

/** Runs a request and reports a failure as a toast; resolves to undefined on failure. */
async function attempt(method, params) {
  try {
    return await request(method, params);
  } catch (err) {
    toast(`${method}: ${err.message}`);
    return undefined;
  }
}

async function connect(token, { fromLogin = false } = {}) {
  stopReconnect();
  if (state.conn) state.conn.close();
  setConnState(state.hello ? 'reconnecting' : 'connecting', 'Connecting…');
  $('connect').disabled = true;
  const conn = new Connection(wsUrl(), { onEvent, onClose: () => dropped(conn) });
  state.conn = conn;
  try {
    const hello = await conn.open(token);
    if (state.conn !== conn) return;
    state.token = token;
    state.attempt = 0;
    state.wantConnected = true;
    if (fromLogin) {
      if ($('remember').checked && token) localStorage.setItem(TOKEN_KEY, token);
      else if (!$('remember').checked) localStorage.removeItem(TOKEN_KEY);
    }
    connected(hello);
  } catch (err) {
    if (state.conn !== conn) return;
    state.conn = null;
    failed(err, token);
  } finally {
    $('connect').disabled = false;
  }
}

function failed(err, token) {
  const fatal = ['UNAUTHORIZED', 'PROTOCOL_MISMATCH', 'CONNECT_REQUIRED', 'INVALID_REQUEST'].includes(err.code);
  if (fatal || !state.wantConnected) {
    state.wantConnected = false;
    let message = err.message;
    if (err.code === 'RATE_LIMITED' && err.retryAfterMs) {
      message += ` (try again in ${duration(err.retryAfterMs)})`;
    }
    showLogin(message);
    setConnState('disconnected', err.code === 'UNAUTHORIZED' ? 'Not authorized' : 'Disconnected');
    return;
  }
  scheduleReconnect(token, err.code === 'RATE_LIMITED' ? err.retryAfterMs : undefined);
}

function dropped(conn) {
  if (state.conn !== conn) return;
  state.conn = null;
  for (const run of state.runs) {
    if (run.runId) run.detached = true;
    else finishRun(run, { kind: 'error', message: 'the connection was lost before the gateway took the message' });
  }
  if (state.wantConnected) scheduleReconnect(state.token);
  else setConnState('disconnected', 'Disconnected');
  updateComposer();
}

/** Reconnects after a drop with exponential backoff (1 s doubling to 30 s, with jitter). */
function scheduleReconnect(token, delayMs) {
  stopReconnect();
  const backoff = Math.min(30000, 1000 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
  const wait = Math.max(delayMs || 0, backoff);
  state.attempt = Math.min(state.attempt + 1, 6);
  const due = Date.now() + wait;
  const label = () => {
    setConnState('reconnecting', `Reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))}s…`);
  };
  label();
  state.countdown = setInterval(label, 1000);
  state.reconnectTimer = setTimeout(() => connect(token), wait);
}

function stopReconnect() {
  clearTimeout(state.reconnectTimer);
  clearInterval(state.countdown);
}

function signOut() {
  state.wantConnected = false;
  stopReconnect();
  if (state.conn) state.conn.close();
  state.conn = null;
  state.hello = null;
  setConnState('disconnected', 'Disconnected');
  showLogin('');
}

function showLogin(error) {
  for (const view of document.querySelectorAll('.view')) show(view, view.id === 'view-login');
  show($('tabs'), false);
  show($('logout'), false);
  show($('forget'), !!localStorage.getItem(TOKEN_KEY));
  $('login-error').textContent = error || '';
  show($('login-error'), !!error);
  document.body.classList.remove('offline');
}

async function connected(hello) {
  const first = !state.hello;
  state.hello = hello;
  const server = hello.server || {};
  setConnState('connected', `Connected to ${server.name || 'chitin'} ${server.version || ''}`.trim());
  show($('tabs'), true);
  show($('logout'), true);
  $('login-error').textContent = '';
  fillAgents(hello.agents || []);
  selectTab(first ? tabFromHash() : state.tab);
  await Promise.all([loadSessions(), loadApprovals(), loadPairing(), loadStatus()]);
  if (first || !state.sessionKey) selectSession(defaultSession());
  else selectSession(state.sessionKey);
  recoverRuns();
}

/** Runs whose events were lost with a dropped connection: wait for their outcome instead. */
function recoverRuns() {
  for (const run of state.runs) {
    if (!run.detached || !run.runId) continue;
    run.detached = false;
    request('agent.wait', { runId: run.runId, timeoutMs: 600000 }).then((res) => {
      if (res.status === 'ok') finishRun(run, { kind: 'done', text: res.text || '' });
      else if (res.status !== 'running') finishRun(run, { kind: 'error', message: res.error || res.status });
    }, () => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Events

function onEvent(event, payload, gap) {
  if (gap) resync();
  switch (event) {
    case 'agent': return agentEvent(payload);
    case 'approval':
      if (payload.kind === 'requested' && payload.approval) state.approvals.set(payload.approval.id, payload.approval);
      if (payload.kind === 'resolved') {
        state.approvals.delete(payload.id);
        markApproval(payload.id, payload.decision);
      }
      return renderApprovals();
    case 'pairing':
      if (payload.kind === 'requested' && payload.request) state.pairing.set(payload.request.code, payload.request);
      if (payload.kind === 'resolved') state.pairing.delete(payload.code);
      return renderPairing();
    case 'presence':
      state.clients = (payload.clients || []).length;
      return renderStatus();
    case 'tick':
      return loadStatus();
    case 'shutdown':
      return toast(`The gateway is stopping: ${payload.reason || 'shutdown'}`, 'info');
    default:
      return undefined;
  }
}

/** Some events were lost: reload everything that events keep up to date. */
function resync() {
  loadApprovals();
  loadPairing();
  loadStatus();
}

// ---------------------------------------------------------------------------------------------
// Chat: agents and sessions

function fillAgents(agents) {
  const select = $('agent-select');
  select.replaceChildren(...agents.map((a) => h('option', { value: a.id, text: a.model ? `${a.id} (${a.model})` : a.id })));
  if (!agents.some((a) => a.id === state.agent)) state.agent = agents.length ? agents[0].id : null;
  select.value = state.agent || '';
}

const mainSession = (agent) => `agent:${agent}:main`;

function defaultSession() {
  if (!state.agent) return null;
  const saved = localStorage.getItem(SESSION_KEY + state.agent);
  return saved && saved.split(':')[1] === state.agent ? saved : mainSession(state.agent);
}

function randomId() {
  const bytesArr = new Uint8Array(6);
  crypto.getRandomValues(bytesArr);
  return Array.from(bytesArr, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function loadSessions() {
  if (!state.agent) return;
  const agent = state.agent;
  const res = await attempt('sessions.list', { agent, limit: 100 });
  if (!res || agent !== state.agent) return;
  state.sessions = res.sessions || [];
  const local = state.localSessions.get(agent);
  if (local) for (const s of state.sessions) local.delete(s.key);
  renderSessions();
}

function sessionLabel(key, session) {
  if (session && session.title) return session.title;
  if (key === mainSession(state.agent)) return 'Main session';
  const rest = key.split(':').slice(2).join(':');
  return rest.startsWith('webchat:') ? `Web chat ${rest.slice(8, 14)}` : rest || key;
}

function renderSessions() {
  const agent = state.agent;
  const main = mainSession(agent);
  const byKey = new Map(state.sessions.map((s) => [s.key, s]));
  const keys = [main];
  for (const key of state.localSessions.get(agent) || []) if (!keys.includes(key)) keys.push(key);
  for (const s of state.sessions) if (!keys.includes(s.key)) keys.push(s.key);
  if (state.sessionKey && state.sessionKey.split(':')[1] === agent && !keys.includes(state.sessionKey)) {
    keys.push(state.sessionKey);
  }
  $('session-list').replaceChildren(...keys.map((key) => {
    const session = byKey.get(key);
    const running = [...state.runs].some((r) => r.sessionKey === key);
    return h('li', {
      class: `session${key === state.sessionKey ? ' selected' : ''}`,
      testid: 'session-item',
      data: { key },
      title: key,
      on: { click: () => selectSession(key) },
    },
    h('span', { class: 'session-name', text: sessionLabel(key, session) }),
    h('span', { class: 'session-meta', text: running ? 'running…' : sessionMeta(session) }));
  }));
}

function sessionMeta(session) {
  if (!session) return 'new';
  const count = typeof session.messageCount === 'number' ? `${plural(session.messageCount, 'message')} · ` : '';
  return `${count}${ago(session.updatedAtMs)}`;
}

function newSession() {
  if (!state.agent) return;
  const key = `agent:${state.agent}:webchat:${randomId()}`;
  if (!state.localSessions.has(state.agent)) state.localSessions.set(state.agent, new Set());
  state.localSessions.get(state.agent).add(key);
  selectSession(key);
  $('composer').focus();
}

async function selectSession(key) {
  if (!key) return;
  state.sessionKey = key;
  localStorage.setItem(SESSION_KEY + state.agent, key);
  $('session-title').textContent = key;
  renderSessions();
  updateComposer();
  const load = ++state.historyLoad;
  const list = $('messages');
  delete list.dataset.loaded;
  list.replaceChildren(h('p', { class: 'empty', text: 'Loading…' }));
  let messages = [];
  try {
    const res = await request('chat.history', { sessionKey: key, limit: 200 });
    messages = res.messages || [];
  } catch (err) {
    if (err.code !== 'NOT_FOUND') toast(`chat.history: ${err.message}`);
  }
  if (load !== state.historyLoad) return;
  renderHistory(messages);
}

// ---------------------------------------------------------------------------------------------
// Chat: messages

function bubble(role, extraClass = '') {
  const body = h('div', { class: 'msg-body' });
  const meta = h('div', { class: 'msg-meta', testid: 'message-meta' });
  const node = h('div', { class: `msg msg-${role} ${extraClass}`.trim(), testid: 'message', data: { role } },
    h('div', { class: 'msg-role', text: role === 'assistant' ? state.agent || 'assistant' : role }),
    body, meta);
  return { node, body, meta };
}

/** Appends text to a bubble, continuing its last text segment (one Text node, appended to). */
function appendText(body, text) {
  let seg = body.lastElementChild;
  if (!seg || !seg.classList.contains('msg-text')) {
    seg = h('div', { class: 'msg-text', testid: 'message-text' });
    seg.append(document.createTextNode(''));
    body.append(seg);
  }
  seg.firstChild.appendData(text);
  return seg;
}

function toolCard(callId, name, args) {
  const status = h('span', { class: 'tool-status', testid: 'tool-status', text: 'running' });
  const output = h('pre', { class: 'tool-output hidden', testid: 'tool-output' });
  const approval = h('div', { class: 'tool-approval hidden', testid: 'tool-approval' });
  const node = h('div', { class: 'tool-card running', testid: 'tool-card', data: { tool: name || '', callId: callId || '', state: 'running' } },
    h('div', { class: 'tool-head' }, h('span', { class: 'tool-icon', text: '⚙' }), h('span', { class: 'tool-name', testid: 'tool-name', text: name || 'tool' }), status),
    h('details', { class: 'tool-args', open: true }, h('summary', { text: 'arguments' }), h('pre', { testid: 'tool-args', text: pretty(args || '') })),
    approval, output);
  return { node, status, output, approval, name, callId, state: 'running' };
}

function finishCard(card, ok, output) {
  card.state = ok ? 'ok' : 'error';
  card.node.dataset.state = card.state;
  card.node.classList.remove('running', 'waiting');
  card.node.classList.add(card.state);
  card.status.textContent = ok ? 'ok' : 'error';
  card.output.textContent = output;
  show(card.output, true);
  if (!card.approval.classList.contains('hidden') && card.approval.dataset.decided !== 'true') show(card.approval, false);
}

function renderHistory(messages) {
  const list = $('messages');
  list.replaceChildren();
  let turn = null;
  const cards = new Map();
  for (const m of messages) {
    if (m.role === 'assistant') {
      if (!turn) {
        turn = bubble('assistant');
        list.append(turn.node);
      }
      if (m.content) appendText(turn.body, m.content);
      for (const call of m.toolCalls || []) {
        const card = toolCard(call.id, call.name, call.arguments);
        cards.set(call.id, card);
        turn.body.append(card.node);
      }
    } else if (m.role === 'tool') {
      const card = cards.get(m.toolCallId);
      if (card) {
        finishCard(card, !m.isError, m.content || '');
      } else {
        const b = bubble('tool');
        const orphan = toolCard(m.toolCallId, m.toolName, '');
        finishCard(orphan, !m.isError, m.content || '');
        b.body.append(orphan.node);
        list.append(b.node);
      }
    } else {
      turn = null;
      const b = bubble(m.role || 'system');
      appendText(b.body, m.content || '');
      if (m.isError) b.node.classList.add('error');
      list.append(b.node);
    }
  }
  // Runs still going in this session: their bubbles (and their question, unless already stored).
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  for (const run of state.runs) {
    if (run.sessionKey !== state.sessionKey) continue;
    if (!lastUser || lastUser.content !== run.message) list.append(run.user);
    list.append(run.bubble.node);
  }
  if (!list.childElementCount) list.append(h('p', { class: 'empty', testid: 'messages-empty', text: 'No messages yet.' }));
  list.dataset.loaded = state.sessionKey;
  scrollDown(true);
}

function scrollDown(force) {
  const list = $('messages');
  if (force || list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
}

function updateComposer() {
  show($('abort'), [...state.runs].some((r) => r.sessionKey === state.sessionKey));
  $('send').disabled = !state.conn;
}

async function sendMessage() {
  const composer = $('composer');
  const text = composer.value;
  if (!text.trim() || !state.sessionKey) return;
  if (!state.conn) {
    toast('Not connected to the gateway.');
    return;
  }
  composer.value = '';
  const list = $('messages');
  const empty = list.querySelector('.empty');
  if (empty) empty.remove();
  const user = bubble('user');
  appendText(user.body, text);
  const reply = bubble('assistant', 'streaming');
  reply.body.append(h('div', { class: 'typing', testid: 'typing', text: 'thinking…' }));
  list.append(user.node, reply.node);
  scrollDown(true);
  const run = {
    runId: null, sessionKey: state.sessionKey, message: text, user: user.node, bubble: reply,
    cards: new Map(), status: 'running', text: '', usage: [],
  };
  state.runs.add(run);
  updateComposer();
  try {
    const res = await request('chat.send', { sessionKey: run.sessionKey, message: text });
    run.runId = res.runId;
    reply.node.dataset.runId = res.runId;
    state.runsById.set(res.runId, run);
    renderSessions();
    for (const payload of state.orphanEvents.get(res.runId) || []) runEvent(run, payload);
    state.orphanEvents.delete(res.runId);
  } catch (err) {
    finishRun(run, { kind: 'error', message: err.message, code: err.code });
  }
  updateComposer();
}

function agentEvent(payload) {
  const run = state.runsById.get(payload.runId);
  if (run) return runEvent(run, payload);
  // chat.send has not answered yet: keep the events for when it does.
  const queue = state.orphanEvents.get(payload.runId) || [];
  if (queue.length < 10000) queue.push(payload);
  state.orphanEvents.set(payload.runId, queue);
  return undefined;
}

function runEvent(run, ev) {
  if (run.status !== 'running') return;
  const { body, meta } = run.bubble;
  const typing = body.querySelector('.typing');
  switch (ev.kind) {
    case 'delta':
      if (typing) typing.remove();
      run.text += ev.text || '';
      appendText(body, ev.text || '');
      break;
    case 'model':
      run.model = `${ev.provider}/${ev.model}`;
      break;
    case 'failover':
      body.append(h('div', { class: 'note', testid: 'failover', text: `Failed over from ${ev.from} to ${ev.to}: ${ev.reason}` }));
      break;
    case 'compacted':
      body.append(h('div', { class: 'note', text: `Summarized ${plural(ev.summarizedMessages || 0, 'older message')} to fit the context window.` }));
      break;
    case 'usage':
      run.usage.push(ev);
      break;
    case 'tool.start': {
      if (typing) typing.remove();
      let card = run.cards.get(ev.callId);
      const early = [...run.cards.values()].find((c) => c.provisional && c.name === ev.name);
      if (!card && early) {
        // The approval was announced before the tool's start: that card is this call's.
        card = early;
        card.provisional = false;
        run.cards.delete(card.callId);
        card.callId = ev.callId;
        card.node.dataset.callId = ev.callId;
        card.node.querySelector('[data-testid="tool-args"]').textContent = pretty(ev.arguments || '');
        run.cards.set(ev.callId, card);
      }
      if (!card) {
        card = toolCard(ev.callId, ev.name, ev.arguments);
        run.cards.set(ev.callId, card);
        body.append(card.node);
      }
      break;
    }
    case 'approval': {
      if (typing) typing.remove();
      let card = [...run.cards.values()].find((c) => c.name === ev.tool && c.state === 'running' && !c.approvalId);
      if (!card) {
        card = toolCard(`approval-${ev.approvalId}`, ev.tool, state.approvals.get(ev.approvalId)?.arguments || '');
        card.provisional = true;
        run.cards.set(card.callId, card);
        body.append(card.node);
      }
      askApproval(card, ev.approvalId);
      break;
    }
    case 'tool.end': {
      let card = run.cards.get(ev.callId);
      if (!card) {
        card = [...run.cards.values()].find((c) => c.name === ev.name && c.state !== 'ok' && c.state !== 'error');
      }
      if (!card) {
        card = toolCard(ev.callId, ev.name, '');
        run.cards.set(ev.callId, card);
        body.append(card.node);
      }
      finishCard(card, ev.ok !== false, ev.output || '');
      break;
    }
    case 'done':
    case 'error':
      finishRun(run, ev);
      break;
    default:
      break;
  }
  meta.textContent = runMeta(run);
  scrollDown(false);
}

function runMeta(run) {
  const parts = [];
  if (run.model) parts.push(run.model);
  const input = run.usage.reduce((n, u) => n + (u.inputTokens || 0), 0);
  const output = run.usage.reduce((n, u) => n + (u.outputTokens || 0), 0);
  if (run.usage.length) parts.push(`${input} in / ${output} out tokens`);
  return parts.join(' · ');
}

function finishRun(run, ev) {
  if (run.status !== 'running') return;
  const { node, body } = run.bubble;
  const typing = body.querySelector('.typing');
  if (typing) typing.remove();
  node.classList.remove('streaming');
  if (ev.kind === 'done') {
    run.status = 'done';
    if (!run.text && ev.text) appendText(body, ev.text);
  } else {
    run.status = 'error';
    node.classList.add('error');
    const code = ev.code ? ` (${ev.code})` : '';
    body.append(h('div', { class: 'msg-error', testid: 'message-error', text: `${ev.message || 'the run failed'}${code}` }));
  }
  for (const card of run.cards.values()) if (card.state === 'running') finishCard(card, false, 'the run ended before this tool finished');
  node.dataset.state = run.status;
  run.bubble.meta.textContent = runMeta(run);
  state.runs.delete(run);
  if (run.runId) state.runsById.delete(run.runId);
  updateComposer();
  loadSessions();
  loadStatus();
}

async function abortRuns() {
  const runs = [...state.runs].filter((r) => r.sessionKey === state.sessionKey);
  for (const run of runs) {
    const res = await attempt('agent.abort', run.runId ? { runId: run.runId } : { sessionKey: run.sessionKey });
    if (res && !res.aborted) toast('Nothing was running.', 'info');
  }
}

// ---------------------------------------------------------------------------------------------
// Approvals

function askApproval(card, approvalId) {
  card.approvalId = approvalId;
  card.node.classList.add('waiting');
  card.node.dataset.state = 'waiting';
  card.status.textContent = 'waiting for approval';
  card.approval.dataset.approvalId = approvalId;
  card.approval.replaceChildren(
    h('span', { class: 'approval-text', text: 'This tool needs an operator’s approval.' }),
    h('button', { class: 'primary small', type: 'button', testid: 'approve-inline', on: { click: () => resolveApproval(approvalId, 'approve') } }, 'Approve'),
    h('button', { class: 'danger small', type: 'button', testid: 'deny-inline', on: { click: () => resolveApproval(approvalId, 'deny') } }, 'Deny'),
  );
  show(card.approval, true);
}

/** Shows a decision on every inline approval box for `id` (there is one per run bubble). */
function markApproval(id, decision) {
  for (const box of document.querySelectorAll('.tool-approval')) {
    if (box.dataset.approvalId !== id || box.dataset.decided === 'true') continue;
    box.dataset.decided = 'true';
    box.replaceChildren(h('span', { class: `decision ${decision}`, testid: 'approval-decision', text: decision === 'approve' ? 'Approved' : 'Denied' }));
    const card = box.closest('.tool-card');
    if (card && card.dataset.state === 'waiting') {
      card.dataset.state = 'running';
      card.classList.remove('waiting');
      card.querySelector('.tool-status').textContent = decision === 'approve' ? 'running' : 'denied';
    }
  }
}

async function resolveApproval(id, decision) {
  const res = await attempt('approvals.resolve', { id, decision });
  if (!res) return;
  state.approvals.delete(id);
  markApproval(id, decision);
  renderApprovals();
}

async function loadApprovals() {
  const res = await attempt('approvals.list');
  if (!res) return;
  state.approvals = new Map((res.approvals || []).map((a) => [a.id, a]));
  renderApprovals();
}

function renderApprovals() {
  const items = [...state.approvals.values()].sort((a, b) => (a.createdAtMs || 0) - (b.createdAtMs || 0));
  setBadge('approvals-badge', items.length);
  show($('approvals-empty'), !items.length);
  $('approval-list').replaceChildren(...items.map((a) => h('li', { class: 'item card', testid: 'approval-item', data: { approvalId: a.id } },
    h('div', { class: 'item-head' },
      h('span', { class: 'tool-name', testid: 'approval-tool', text: a.tool }),
      h('span', { class: 'muted', text: ` requested by ${a.agentId}` }),
      h('span', { class: 'expires', data: { expires: a.expiresAtMs || '' }, text: expiresText(a.expiresAtMs) })),
    h('div', { class: 'muted small-text', text: `session ${a.sessionKey}` }),
    h('pre', { class: 'args', testid: 'approval-args', text: pretty(a.arguments ?? '') }),
    h('div', { class: 'row' },
      h('button', { class: 'primary', type: 'button', testid: 'approval-approve', on: { click: () => resolveApproval(a.id, 'approve') } }, 'Approve'),
      h('button', { class: 'danger', type: 'button', testid: 'approval-deny', on: { click: () => resolveApproval(a.id, 'deny') } }, 'Deny')))));
}

function expiresText(ms) {
  if (!ms) return '';
  const left = ms - Date.now();
  return left > 0 ? `expires in ${duration(left)}` : 'expired';
}

function setBadge(id, count) {
  const badge = $(id);
  badge.textContent = String(count);
  show(badge, count > 0);
}

// ---------------------------------------------------------------------------------------------
// Pairing

async function loadPairing() {
  const res = await attempt('pairing.list');
  if (!res) return;
  const pending = (res.requests || []).filter((r) => !r.status || r.status === 'pending');
  state.pairing = new Map(pending.map((r) => [r.code, r]));
  renderPairing();
}

async function decidePairing(code, decision) {
  const res = await attempt(decision === 'approve' ? 'pairing.approve' : 'pairing.reject', { code });
  if (!res) return;
  state.pairing.delete(code);
  renderPairing();
  toast(`${decision === 'approve' ? 'Approved' : 'Rejected'} pairing ${code}.`, 'info');
}

function renderPairing() {
  const items = [...state.pairing.values()].sort((a, b) => (a.createdAtMs || 0) - (b.createdAtMs || 0));
  setBadge('pairing-badge', items.length);
  show($('pairing-empty'), !items.length);
  $('pairing-list').replaceChildren(...items.map((r) => h('li', { class: 'item card', testid: 'pairing-item', data: { code: r.code } },
    h('div', { class: 'item-head' },
      h('span', { class: 'pair-name', testid: 'pairing-sender', text: r.displayName ? `${r.displayName} (${r.sender})` : r.sender }),
      h('span', { class: 'chip', text: r.channel }),
      h('span', { class: 'expires', data: { expires: r.expiresAtMs || '' }, text: expiresText(r.expiresAtMs) })),
    h('div', { class: 'muted small-text' }, 'code ', h('code', { testid: 'pairing-code', text: r.code }), ` · asked ${ago(r.createdAtMs)}`),
    h('div', { class: 'row' },
      h('button', { class: 'primary', type: 'button', testid: 'pairing-approve', on: { click: () => decidePairing(r.code, 'approve') } }, 'Approve'),
      h('button', { class: 'danger', type: 'button', testid: 'pairing-reject', on: { click: () => decidePairing(r.code, 'reject') } }, 'Reject')))));
}

// ---------------------------------------------------------------------------------------------
// Plugins

async function loadPlugins() {
  const res = await attempt('plugins.list');
  if (!res) return;
  const plugins = res.plugins || [];
  const grid = $('plugin-list');
  grid.replaceChildren(...plugins.map(pluginCard));
  if (!plugins.length) grid.append(h('p', { class: 'empty', text: 'No plugins are configured.' }));
}

function pluginCard(p) {
  const digest = String(p.digest || '').replace(/^sha256:/, '');
  const grant = p.grant || {};
  const budgets = p.budgets || {};
  const rows = [];
  const add = (label, values, testid) => {
    if (!values || (Array.isArray(values) && !values.length)) return;
    const list = Array.isArray(values) ? values : [values];
    rows.push(h('dt', { text: label }), h('dd', { testid }, ...list.map((v) => h('span', { class: 'chip', text: v }))));
  };
  add('Outbound', grant.outbound, 'grant-outbound');
  add('Private ranges', grant.allowPrivate, 'grant-private');
  add('Secrets', (grant.secrets || []).map((s) => {
    const audience = (s.audience || []).join(', ');
    return audience ? `${s.name} → ${audience}` : s.name;
  }), 'grant-secrets');
  if (grant.kv) add('Key-value', `quota ${bytes(grant.kv.quotaBytes)}`, 'grant-kv');
  add('Files', (grant.files || []).map((f) => `${f.guest} ← ${f.host} (${f.access === 'read-write' ? 'read-write' : 'read-only'})`), 'grant-files');
  add('WebSocket', grant.websocket, 'grant-websocket');
  if (grant.webhook) add('Webhook', typeof grant.webhook === 'string' ? grant.webhook : 'yes', 'grant-webhook');
  add('Config', grant.config, 'grant-config');
  const budgetRows = [
    h('dt', { text: 'Fuel' }), h('dd', { text: budgets.fuel !== undefined ? `${Number(budgets.fuel).toLocaleString('en-US')} instructions` : '–' }),
    h('dt', { text: 'Memory' }), h('dd', { text: bytes(budgets.memoryBytes) }),
    h('dt', { text: 'Wall time' }), h('dd', { text: budgets.wallMs !== undefined ? duration(budgets.wallMs).replace(/^0s$/, `${budgets.wallMs} ms`) : '–' }),
  ];
  const optional = [
    ['Host calls', budgets.hostCallsPerInvocation, (n) => n.toLocaleString('en-US')],
    ['HTTP requests', budgets.httpRequestsPerInvocation, (n) => n.toLocaleString('en-US')],
    ['Output', budgets.maxOutputBytes, bytes],
    ['HTTP responses', budgets.maxResponseBytes, bytes],
  ];
  for (const [label, value, format] of optional) {
    if (value !== undefined && value !== null) budgetRows.push(h('dt', { text: label }), h('dd', { text: `up to ${format(value)}` }));
  }
  return h('article', { class: 'card plugin', testid: 'plugin-card', data: { pluginId: p.id } },
    h('div', { class: 'item-head' },
      h('span', { class: 'plugin-name', testid: 'plugin-name', text: p.name || p.id }),
      h('span', { class: 'muted', text: `${p.id} ${p.version ? `v${p.version}` : ''}` })),
    h('div', { class: 'chips' },
      h('span', { class: 'chip kind', text: p.kind || '?' }),
      p.language ? h('span', { class: 'chip', text: p.language }) : null,
      digest ? h('span', { class: 'chip mono', title: p.digest, text: digest.slice(0, 12) }) : null),
    p.description ? h('p', { class: 'muted plugin-desc', text: p.description }) : null,
    h('h3', { text: 'Granted' }),
    rows.length ? h('dl', { class: 'grant', testid: 'plugin-grant' }, ...rows)
      : h('p', { class: 'muted', testid: 'plugin-grant', text: 'No capabilities: pure computation.' }),
    effectsSection(p),
    h('h3', { text: 'Budgets per call' }),
    h('dl', { class: 'grant', testid: 'plugin-budgets' }, ...budgetRows));
}

// What each tool says it does; the agent gates unattended runs on it.
function effectsSection(p) {
  if (p.kind !== 'tool') return null;
  const effects = Object.entries(p.effects || {});
  if (!effects.length) {
    return h('p', { class: 'muted', testid: 'plugin-effects', text: 'Declares no tool effects: treated as reading untrusted input, writing and sending.' });
  }
  return h('div', {},
    h('h3', { text: 'Tool effects' }),
    h('dl', { class: 'grant', testid: 'plugin-effects' }, ...effects.flatMap(([tool, list]) => [
      h('dt', { text: tool }),
      h('dd', {}, ...(list.length ? list : ['none']).map((e) => h('span', { class: 'chip', text: e }))),
    ])));
}

// ---------------------------------------------------------------------------------------------
// Status line

async function loadStatus() {
  const res = await request('status').catch(() => undefined);
  if (!res) return;
  state.status = res;
  state.statusAt = Date.now();
  renderStatus();
}

function renderStatus() {
  const s = state.status;
  if (!s) return;
  const agents = (s.agents || []).map((a) => a.id).join(', ');
  const parts = [
    `chitin ${s.version || ''}`.trim(),
    `${plural((s.agents || []).length, 'agent')}${agents ? ` (${agents})` : ''}`,
    `${plural(s.activeRuns || 0, 'active run')}`,
    `${plural(state.clients || s.connections || 0, 'client')}`,
    `up ${duration((s.uptimeMs || 0) + Date.now() - state.statusAt)}`,
  ];
  if (s.draining) parts.push('draining');
  $('status-line').textContent = parts.join(' · ');
}

// ---------------------------------------------------------------------------------------------
// Tabs and wiring

const TABS = ['chat', 'approvals', 'plugins', 'pairing'];

function tabFromHash() {
  const tab = location.hash.replace('#', '');
  return TABS.includes(tab) ? tab : 'chat';
}

function selectTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll('.tab')) {
    const active = button.dataset.tab === tab;
    button.classList.toggle('active', active);
    button.setAttribute('aria-selected', String(active));
  }
  for (const name of TABS) show($(`view-${name}`), name === tab);
  show($('view-login'), false);
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
  if (tab === 'plugins') loadPlugins();
  if (tab === 'chat') $('composer').focus();
}

/** Once a second: expiry countdowns and the uptime. */
function refreshCountdowns() {
  renderStatus();
  for (const node of document.querySelectorAll('.expires')) {
    if (node.dataset.expires) node.textContent = expiresText(Number(node.dataset.expires));
  }
}

function init() {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.hello = null;
    connect($('token').value.trim(), { fromLogin: true });
  });
  $('forget').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    show($('forget'), false);
  });
  $('logout').addEventListener('click', signOut);
  for (const button of document.querySelectorAll('.tab')) {
    button.addEventListener('click', () => selectTab(button.dataset.tab));
  }
  $('agent-select').addEventListener('change', (ev) => {
    state.agent = ev.target.value;
    state.sessions = [];
    loadSessions();
    selectSession(defaultSession());
  });
  $('new-session').addEventListener('click', newSession);
  $('reset-session').addEventListener('click', async () => {
    const key = state.sessionKey;
    if (!key || !window.confirm(`Delete the history of ${key}?`)) return;
    const res = await attempt('sessions.reset', { sessionKey: key });
    if (res) selectSession(key);
  });
  $('composer-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendMessage();
  });
  $('composer').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendMessage();
    }
  });
  $('abort').addEventListener('click', abortRuns);
  window.addEventListener('hashchange', () => { if (state.hello) selectTab(tabFromHash()); });
  setInterval(refreshCountdowns, 1000);

  const saved = localStorage.getItem(TOKEN_KEY);
  showLogin('');
  if (saved) {
    $('token').value = saved;
    state.wantConnected = true; // a saved token that stops working ends at the login form
    connect(saved);
  }
}

document.addEventListener('DOMContentLoaded', init);
