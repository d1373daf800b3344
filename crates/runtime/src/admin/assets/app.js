// The mcp-tasks admin dashboard: one module, no dependencies, served by the admin listener.
//
// It reads the admin JSON API (`/api/overview`, `/api/tasks`, `/api/tasks/{id}`,
// `POST /api/tasks/{id}/cancel`) with `Authorization: Bearer TOKEN`, and follows
// `/api/events` (SSE) with fetch() and a stream reader, because EventSource cannot send a
// header. Each event only says that something changed; the page refetches what it shows.
// Every piece of server data reaches the page as text (textContent), never as markup.

const TOKEN_KEY = 'mcp-tasks-admin-token';
const STATUSES = ['working', 'input_required', 'completed', 'failed', 'cancelled'];
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const PAGE_SIZE = 50;
/** Changes arriving closer together than this are shown with one refetch. */
const REFRESH_DELAY_MS = 250;
/** Progress is kept in a task's history but not announced as a change, so an open unfinished task is re-read this often. */
const PROGRESS_POLL_MS = 2000;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15000;
const REFUSED = 'The server refused this token. Enter the admin token again.';

const $ = (selector) => document.querySelector(selector);

const state = {
  token: null,
  overview: null,
  tasks: [],
  /** Cursors of the pages before the one shown, for "Newer". */
  previous: [],
  cursor: null,
  nextCursor: null,
  /** Ids shown before, so a task that appears can be marked. */
  seen: null,
  selected: null,
  /** The open task: `{task, history, historyMore}`, `history` being every page loaded so far. */
  detail: null,
  /** The "Load more events" button was pressed and its page has not arrived yet. */
  moreWanted: false,
  /** The seq of the last event shown when the button was pressed, to put the focus back once its page is shown. */
  historyFocus: null,
  detailError: null,
  cancelNote: null,
  /** Which load the banner's message is about, so its next success clears it. */
  bannerFor: null,
  events: null,
};

// ---------------------------------------------------------------------------------------------
// Elements

/**
 * Creates an element. Strings among the children become text nodes, so data is never parsed
 * as markup. `on*` props add listeners; `dataset` sets data-* attributes; `false`/`null` skip.
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

function badge(status) {
  return h('span', { class: `badge status-${status ?? 'unknown'}`, dataset: { status: status ?? '' } },
    status ? status.replace('_', ' ') : 'unknown');
}

function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

// ---------------------------------------------------------------------------------------------
// Formatting

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (Number.isNaN(seconds)) return iso ?? '';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A time of day to the millisecond, for the timeline, where events can be close together. */
function clock(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso ?? '';
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function millis(ms) {
  if (ms == null) return 'unlimited';
  const units = [['d', 86400000], ['h', 3600000], ['min', 60000], ['s', 1000]];
  for (const [unit, size] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

function bytes(n) {
  if (n == null) return 'unlimited';
  const units = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
  for (const [unit, size] of units) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

function count(n) {
  return n == null ? 'unlimited' : String(n);
}

function owner(name) {
  return name ?? '(no owner)';
}

/** The text of a content block or a list of them (tool results, sampling messages). */
function contentText(content) {
  if (content == null) return '';
  if (Array.isArray(content)) return content.map(contentText).filter(Boolean).join('\n');
  if (content.type === 'text') return content.text ?? '';
  return `[${content.type ?? 'content'}]`;
}

function errorText(error) {
  if (error == null) return '';
  if (typeof error.message === 'string') {
    return error.code != null ? `${error.message} (code ${error.code})` : error.message;
  }
  if (Array.isArray(error.content)) return contentText(error.content);
  return JSON.stringify(error);
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

class Unauthorized extends Error {}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `the server cannot be reached (${e.message})`);
  }
  if (response.status === 401) throw new Unauthorized(REFUSED);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error?.code ?? 'http',
      data?.error?.message ?? `HTTP ${response.status} ${response.statusText}`);
  }
  return data;
}

/** Runs a load; a refused token returns to the login form, other failures show in the banner. */
async function guarded(what, load) {
  try {
    await load();
    if (state.bannerFor === what) showBanner(null);
    return true;
  } catch (e) {
    if (e instanceof Unauthorized) {
      showLogin(REFUSED);
    } else {
      showBanner(`Could not load ${what}: ${e.message}`, what);
    }
    return false;
  }
}

function showBanner(text, what = null) {
  const banner = $('#banner');
  banner.textContent = text ?? '';
  banner.hidden = !text;
  state.bannerFor = text ? what : null;
}

// ---------------------------------------------------------------------------------------------
// Signing in

function tokenFromHash() {
  const match = /^#token=(.*)$/.exec(location.hash);
  if (!match) return;
  // The fragment never reaches the server; take it out of the address bar and the history too.
  history.replaceState(null, '', location.pathname + location.search);
  let token;
  try {
    token = decodeURIComponent(match[1]).trim();
  } catch {
    token = match[1].trim();
  }
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
}

function showLogin(message = '') {
  stopEvents();
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('#dashboard').hidden = true;
  $('#logout').hidden = true;
  $('#login').hidden = false;
  $('#login-message').textContent = message;
  $('#login-token').value = '';
  $('#login-token').focus();
  setLive('off');
}

async function enter(token) {
  state.token = token;
  $('#login').hidden = true;
  $('#dashboard').hidden = false;
  $('#logout').hidden = false;
  // The overview is loaded first: it tells at once whether the token is good.
  await guarded('the overview', loadOverview);
  if (state.token !== token) return;
  route();
  await guarded('the tasks', loadTasks);
  startEvents();
}

// ---------------------------------------------------------------------------------------------
// Loading; each load drops its answer when a newer load of the same thing was started.

const generation = { overview: 0, tasks: 0, detail: 0 };

async function loadOverview() {
  const mine = ++generation.overview;
  const overview = await api('/api/overview');
  if (mine !== generation.overview) return;
  state.overview = overview;
  renderOverview();
}

async function loadTasks() {
  const mine = ++generation.tasks;
  const page = await api(`/api/tasks?${taskQuery()}`);
  if (mine !== generation.tasks) return;
  state.tasks = page.tasks ?? [];
  state.nextCursor = page.nextCursor ?? null;
  renderTasks();
}

/**
 * Loads the open task. Its history comes in pages of at most 1000 events (`historyMore` says
 * whether more follow, `?after=SEQ` asks for them), and history is only ever appended to, so
 * once a page is shown a re-read asks only for what follows the last event shown: pages already
 * loaded are kept. `more` is the "Load more events" button: append the next page. Without it,
 * while older pages are still unread, the new events are left for that button to bring in
 * order, and only the task itself is refreshed.
 */
async function loadDetail({ more = false } = {}) {
  const id = state.selected;
  if (!id) return;
  const mine = ++generation.detail;
  // A re-read started while the button's page is on its way supersedes that load, so it
  // brings the page instead.
  const wantMore = more || state.moreWanted;
  const kept = state.detail?.task?.taskId === id ? state.detail : null;
  const last = kept?.history?.at(-1)?.seq;
  const after = last == null ? null : last;
  try {
    const query = after == null ? '' : `?after=${encodeURIComponent(after)}`;
    const page = await api(`/api/tasks/${encodeURIComponent(id)}${query}`);
    if (mine !== generation.detail || state.selected !== id) return;
    const events = page.history ?? [];
    if (after == null) {
      state.detail = { ...page, history: events, historyMore: Boolean(page.historyMore) };
    } else if (wantMore || !kept.historyMore) {
      state.detail = {
        ...page,
        history: kept.history.concat(events.filter((event) => event.seq > after)),
        historyMore: Boolean(page.historyMore),
      };
    } else {
      state.detail = { ...page, history: kept.history, historyMore: events.length > 0 };
    }
    if (wantMore) state.moreWanted = false;
    state.detailError = null;
  } catch (e) {
    if (!(e instanceof ApiError) || mine !== generation.detail) throw e;
    state.detailError = e.status === 404
      ? `There is no task ${id} (any more): it was never created, or it expired or was purged.`
      : `Could not load task ${id}: ${e.message}`;
  }
  renderDetail();
}

/** The "Load more events" button: the next page of the open task's history. */
async function loadMoreHistory() {
  const button = $('#history-more');
  if (button) button.disabled = true;
  state.moreWanted = true;
  state.historyFocus = state.detail?.history?.at(-1)?.seq ?? null;
  const loaded = await guarded('the task', () => loadDetail({ more: true }));
  if (!loaded) {
    // The page is as it was; let the button be pressed again.
    state.moreWanted = false;
    state.historyFocus = null;
    const again = $('#history-more');
    if (again) again.disabled = false;
  }
}

function taskQuery() {
  const query = new URLSearchParams();
  const statuses = [...document.querySelectorAll('#filters input[name=status]:checked')]
    .map((box) => box.value);
  if (statuses.length) query.set('status', statuses.join(','));
  const ownerFilter = $('#filter-owner').value;
  if (ownerFilter) query.set('owner', ownerFilter);
  const tool = $('#filter-tool').value.trim();
  if (tool) query.set('tool', tool);
  const age = $('#filter-age').value;
  if (age) {
    const [name, value] = age.split('=');
    query.set(name, value);
  }
  if (state.cursor) query.set('cursor', state.cursor);
  query.set('limit', String(PAGE_SIZE));
  return query;
}

// ---------------------------------------------------------------------------------------------
// Live updates

/** What changed since the last refetch: the overview and list always refetch, the detail when its task changed. */
const pending = { timer: null, detail: false };

function refreshSoon({ taskId = null, all = false } = {}) {
  if (all || (taskId && taskId === state.selected)) pending.detail = true;
  if (pending.timer) return;
  pending.timer = setTimeout(async () => {
    pending.timer = null;
    const detail = pending.detail;
    pending.detail = false;
    if (!state.token) return;
    await Promise.all([
      guarded('the overview', loadOverview),
      guarded('the tasks', loadTasks),
      detail ? guarded('the task', loadDetail) : null,
    ]);
  }, REFRESH_DELAY_MS);
}

function setLive(which) {
  const live = $('#live');
  live.dataset.state = which;
  live.textContent = { off: 'offline', connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' }[which];
}

function stopEvents() {
  state.events?.abort();
  state.events = null;
}

function startEvents() {
  stopEvents();
  const controller = new AbortController();
  state.events = controller;
  followEvents(controller.signal);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Reads `/api/events` until signed out, reconnecting with a doubling backoff. */
async function followEvents(signal) {
  let delay = RECONNECT_FIRST_MS;
  let first = true;
  while (!signal.aborted) {
    setLive(first ? 'connecting' : 'reconnecting');
    try {
      const response = await fetch('/api/events', {
        headers: { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (response.status === 401) {
        showLogin(REFUSED);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setLive('live');
      delay = RECONNECT_FIRST_MS;
      // Whatever changed while the stream was down was not announced.
      if (!first) refreshSoon({ all: true });
      first = false;
      await readEvents(response.body, signal, (type, data) => {
        // The server's feed fell behind and dropped changes: refetch everything.
        if (type === 'lagged') refreshSoon({ all: true });
        if (type !== 'task') return;
        let change;
        try {
          change = JSON.parse(data);
        } catch {
          return;
        }
        refreshSoon({ taskId: change.taskId });
      });
    } catch {
      // A network failure or the stream breaking: reconnect below.
    }
    if (signal.aborted) return;
    setLive('reconnecting');
    await sleep(delay, signal);
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  }
}

/** Parses a text/event-stream body (WHATWG HTML, "Server-sent events"), calling onEvent(type, data). */
async function readEvents(body, signal, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), { once: true });
  let buffer = '';
  let skipNewline = false;
  let type = '';
  let data = [];
  const line = (text) => {
    if (text === '') {
      if (data.length) onEvent(type || 'message', data.join('\n'));
      type = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // A line ends at \n, \r\n or \r; a chunk ending in \r may be followed by the \n of the same \r\n.
    let text = value;
    if (skipNewline && text.startsWith('\n')) text = text.slice(1);
    skipNewline = text.endsWith('\r');
    buffer += text;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    lines.forEach(line);
  }
}

// ---------------------------------------------------------------------------------------------
// The overview: server, readiness, counts, limits

function stat(label, value, testid, extra = null, wide = false) {
  return h('div', { class: wide ? 'stat wide' : 'stat', 'data-testid': testid },
    h('span', { class: 'stat-label' }, label),
    h('span', { class: 'stat-value' }, value),
    extra);
}

function renderOverview() {
  const o = state.overview;
  const server = o.server ?? {};
  $('#server-name').textContent = server.name ?? 'mcp-tasks';
  $('#server-version').textContent = server.version ? `v${server.version}` : '';
  const role = $('#server-role');
  role.textContent = server.role ?? '';
  role.hidden = !server.role;
  document.title = `${server.name ?? 'mcp-tasks'} admin`;

  const ready = o.ready ?? {};
  const checks = Object.entries(ready.checks ?? {}).map(([name, value]) => `${name}: ${value}`).join(' · ');
  const isReady = ready.status === 'ready';
  // The store could not count its tasks: every count is 0 then, which must not pass for "none".
  const countsError = o.countsError ?? null;
  const cards = [
    stat('Readiness', h('span', { class: `badge ${isReady ? 'ok' : 'bad'}` }, ready.status ?? 'unknown'),
      'stat-ready', h('span', { class: 'stat-note' }, checks)),
    stat('Store', h('span', { class: 'store', title: server.store ?? '' }, server.store ?? '—'), 'stat-store', [
      h('span', { class: 'stat-note' }, [
        server.shared ? 'shared by instances' : 'this instance only',
        server.runner ? ` · runner ${server.runner}` : '',
      ].join('')),
      countsError ? h('span', { class: 'stat-note counts-error', role: 'alert', 'data-testid': 'counts-error' },
        h('span', { class: 'badge bad' }, 'counts unavailable'), ` ${countsError}`) : null,
    ], true),
    stat('Sessions', o.sessions ?? '—', 'stat-sessions'),
    stat('Open streams', o.openStreams ?? '—', 'stat-streams'),
    stat('Waiters', o.waiters ?? '—', 'stat-waiters'),
    stat('Running here', o.running ?? '—', 'stat-running'),
  ];
  if (o.upstream) {
    const up = o.upstream;
    cards.push(stat('Upstream',
      h('span', { class: `badge ${up.state === 'up' ? 'ok' : up.state === 'down' ? 'bad' : 'warn'}` }, up.state),
      'stat-upstream',
      h('span', { class: 'stat-note' }, `${plural(up.restarts ?? 0, 'restart')}${up.lastError ? ` · ${up.lastError}` : ''}`)));
  }
  if (server.startedAt) {
    cards.push(stat('Started', h('span', { title: when(server.startedAt) }, ago(server.startedAt)), 'stat-started'));
  }
  $('#overview').replaceChildren(...cards);

  const byStatus = countsError ? {} : o.counts?.byStatus ?? {};
  for (const span of document.querySelectorAll('[data-count]')) {
    const n = byStatus[span.dataset.count];
    span.textContent = n == null ? '' : String(n);
  }

  const owners = countsError ? [] : o.counts?.byOwner ?? [];
  const ownersMore = !countsError && Boolean(o.counts?.byOwnerMore);
  const ownersNote = $('#owners-note');
  ownersNote.textContent = ownersMore ? `Showing the ${owners.length} largest owners; more owners have tasks.` : '';
  ownersNote.hidden = !ownersMore;
  $('#owners-body').replaceChildren(...ownerRows(owners, countsError));

  const select = $('#filter-owner');
  const chosen = select.value;
  const options = [h('option', { value: '' }, 'any owner')];
  for (const row of owners) {
    options.push(h('option', { value: row.owner ?? '-' }, owner(row.owner)));
  }
  if (chosen && !owners.some((row) => (row.owner ?? '-') === chosen)) {
    options.push(h('option', { value: chosen }, chosen === '-' ? owner(null) : chosen));
  }
  select.replaceChildren(...options);
  select.value = chosen;

  const limits = o.limits ?? {};
  const pairs = [
    ['Unfinished tasks per requestor', count(limits.maxActivePerRequestor)],
    ['Largest result', bytes(limits.maxResultBytes)],
    ['Stored results per client', bytes(limits.maxStoredResultBytes)],
    ['Rate limit', limits.rateLimit ?? 'unlimited'],
    ['Default ttl', millis(limits.defaultTtlMs)],
    ['Largest ttl', millis(limits.maxTtlMs)],
    ['Poll interval', limits.pollIntervalMs == null ? '—' : millis(limits.pollIntervalMs)],
    ['Sessions at most', count(limits.maxSessions)],
  ];
  $('#limits').replaceChildren(...pairs.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** The per-owner table's rows; with the counts unknown, one row saying so instead of zeros. */
function ownerRows(owners, countsError) {
  if (countsError) {
    return [h('tr', {}, h('td', { colspan: 7, class: 'error', 'data-testid': 'owners-unknown' },
      `Unknown: the store could not count its tasks (${countsError}).`))];
  }
  if (!owners.length) return [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No tasks yet.'))];
  return owners.map((row) => h('tr', { dataset: { owner: row.owner ?? '' } },
    h('th', { scope: 'row' }, h('button', {
      type: 'button',
      class: 'link',
      title: `Show the tasks of ${owner(row.owner)}`,
      onclick: () => filterOwner(row.owner),
    }, owner(row.owner))),
    ...STATUSES.map((s) => h('td', { class: 'num' }, row[s] ?? 0)),
    h('td', { class: 'num total' }, row.total ?? 0)));
}

function filterOwner(name) {
  $('#filter-owner').value = name ?? '-';
  filtersChanged();
}

// ---------------------------------------------------------------------------------------------
// The list

function renderTasks() {
  const focused = document.activeElement?.closest?.('#tasks-body [data-task-id]')?.dataset.taskId;
  const fresh = state.seen ? state.tasks.filter((t) => !state.seen.has(t.taskId)).map((t) => t.taskId) : [];
  state.seen ??= new Set();
  state.tasks.forEach((t) => state.seen.add(t.taskId));

  const rows = state.tasks.map((task) => h('tr', {
    class: [task.taskId === state.selected ? 'selected' : '', fresh.includes(task.taskId) ? 'fresh' : ''].join(' ').trim() || null,
    'data-testid': 'task-row',
    dataset: { taskId: task.taskId, status: task.status },
  },
  h('td', { class: 'id' }, h('button', {
    type: 'button',
    class: 'link mono',
    title: task.taskId,
    'aria-label': `Open task ${task.taskId}`,
    dataset: { taskId: task.taskId },
    onclick: () => openTask(task.taskId),
  }, task.taskId)),
  h('td', {}, badge(task.status), task.pendingInputs ? h('span', {
    class: 'pending',
    title: `${plural(task.pendingInputs, 'question')} waiting for an answer`,
  }, `?${task.pendingInputs}`) : null),
  h('td', { class: 'mono' }, task.tool ?? '—'),
  h('td', {}, owner(task.owner)),
  h('td', { title: when(task.createdAt) }, ago(task.createdAt)),
  h('td', { class: 'message wide-only' }, task.statusMessage ?? '')));
  $('#tasks-body').replaceChildren(...rows);
  $('#tasks-empty').hidden = state.tasks.length > 0;

  $('#page-newest').disabled = state.previous.length === 0;
  $('#page-newer').disabled = state.previous.length === 0;
  $('#page-older').disabled = !state.nextCursor;
  $('#page-label').textContent = `page ${state.previous.length + 1}`;

  if (focused) document.querySelector(`#tasks-body button[data-task-id="${CSS.escape(focused)}"]`)?.focus();
}

/** Loads another page or query; its rows are not marked as new. */
function showPage() {
  state.seen = null;
  guarded('the tasks', loadTasks);
}

function filtersChanged() {
  state.previous = [];
  state.cursor = null;
  showPage();
}

// ---------------------------------------------------------------------------------------------
// One task

/** The detail follows the address (#task=ID), so it can be linked and the back button closes it. */
function route() {
  const match = /^#task=(.+)$/.exec(location.hash);
  let id = null;
  if (match) {
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      id = null;
    }
  }
  if (id === state.selected) return;
  state.selected = id;
  state.cancelNote = null;
  state.moreWanted = false;
  state.historyFocus = null;
  if (state.detail?.task?.taskId !== id) {
    state.detail = null;
    state.detailError = null;
  }
  document.querySelectorAll('#tasks-body tr').forEach((row) => {
    row.classList.toggle('selected', row.dataset.taskId === id);
  });
  renderDetail();
  if (id && !state.detail) guarded('the task', loadDetail);
}

function openTask(id) {
  const target = `#task=${encodeURIComponent(id)}`;
  if (location.hash === target) {
    guarded('the task', loadDetail);
  } else {
    location.hash = target;
  }
}

function closeTask() {
  history.pushState(null, '', location.pathname + location.search);
  route();
}

async function searchTask(event) {
  event.preventDefault();
  const message = $('#search-message');
  const id = $('#search-id').value.trim();
  message.textContent = '';
  if (!id) return;
  try {
    const detail = await api(`/api/tasks/${encodeURIComponent(id)}`);
    state.detail = detail;
    state.detailError = null;
    openTask(id);
  } catch (e) {
    if (e instanceof Unauthorized) showLogin(REFUSED);
    else if (e.status === 404) message.textContent = `No task has the id ${id}.`;
    else message.textContent = `Could not look up ${id}: ${e.message}`;
  }
}

async function cancelTask(id) {
  if (!window.confirm(`Cancel task ${id}?\n\nIts work stops and it ends as cancelled, by "admin".`)) return;
  const button = $('#cancel-button');
  if (button) button.disabled = true;
  try {
    const answer = await api(`/api/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: {} });
    state.cancelNote = { id, ok: true, text: `Cancelled: the task is now ${answer.task?.status ?? 'cancelled'}.` };
  } catch (e) {
    if (e instanceof Unauthorized) {
      showLogin(REFUSED);
      return;
    }
    state.cancelNote = { id, ok: false, text: `Not cancelled: ${e.message}` };
  }
  await Promise.all([
    guarded('the task', loadDetail),
    guarded('the tasks', loadTasks),
    guarded('the overview', loadOverview),
  ]);
  renderDetail();
}

function renderDetail() {
  const panel = $('#detail');
  const id = state.selected;
  $('#workspace').classList.toggle('with-detail', Boolean(id));
  if (!id) {
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  panel.hidden = false;
  const close = h('button', {
    type: 'button', class: 'secondary', 'data-testid': 'detail-close', onclick: closeTask,
  }, 'Close');
  const task = state.detail?.task?.taskId === id ? state.detail.task : null;
  const head = h('div', { class: 'section-head' },
    h('h2', { id: 'detail-title' }, 'Task ', h('span', { class: 'mono', 'data-testid': 'detail-id' }, id)),
    close);
  if (!task) {
    panel.replaceChildren(head, h('p', { class: state.detailError ? 'error' : 'muted', role: 'status', 'data-testid': 'detail-message' },
      state.detailError ?? 'Loading…'));
    return;
  }

  const note = state.cancelNote?.id === id ? state.cancelNote : null;
  const actions = TERMINAL.has(task.status) && !note ? null : h('div', { class: 'actions' },
    TERMINAL.has(task.status) ? null : h('button', {
      id: 'cancel-button',
      type: 'button',
      class: 'danger',
      'data-testid': 'cancel-button',
      onclick: () => cancelTask(id),
    }, 'Cancel task'),
    h('span', {
      class: note ? (note.ok ? 'note ok' : 'note error') : 'note',
      role: 'status',
      'data-testid': 'cancel-result',
    }, note?.text ?? ''));

  const summary = [
    ['Status', h('span', { 'data-testid': 'detail-status', dataset: { status: task.status } }, badge(task.status))],
    ['Status message', task.statusMessage ?? '—'],
    ['Tool', h('span', { class: 'mono' }, task.tool ?? '—')],
    ['Request', task.kind ?? '—'],
    ['Owner', owner(task.owner)],
    ['Session', h('span', { class: 'mono' }, task.session ?? '—')],
    ['Runner', h('span', { class: 'mono' }, task.runner ?? '—')],
    ['Created', when(task.createdAt)],
    ['Last updated', when(task.lastUpdatedAt)],
    ['ttl', task.ttlMs == null ? 'unlimited' : millis(task.ttlMs)],
    ['Expires', task.expiresAt ? when(task.expiresAt) : '—'],
  ];

  const waiting = (task.inputs ?? []).filter((input) => input.response == null);
  const parts = [
    head,
    ...(actions ? [actions] : []),
    h('dl', { class: 'pairs', 'data-testid': 'detail-summary' },
      summary.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
  ];
  if (waiting.length) {
    parts.push(h('h3', {}, 'Waiting for an answer'),
      h('ul', { class: 'questions', 'data-testid': 'detail-questions' },
        waiting.map((input) => h('li', {}, h('span', { class: 'mono muted' }, input.method), ' ', question(input.method, input.params)))));
  }
  const history = state.detail.history ?? [];
  parts.push(h('h3', {}, 'Timeline'), renderTimeline(history));
  if (state.detail.historyMore) {
    parts.push(h('div', { class: 'more', 'data-testid': 'history-more-row' },
      h('span', { class: 'muted' }, `Showing the first ${plural(history.length, 'event')}; more follow.`),
      h('button', {
        id: 'history-more',
        type: 'button',
        class: 'secondary',
        'data-testid': 'history-more',
        disabled: state.moreWanted,
        onclick: loadMoreHistory,
      }, state.moreWanted ? 'Loading…' : 'Load more events')));
  }
  if (task.error !== undefined) {
    parts.push(h('h3', {}, 'Error'), h('p', { class: 'error', 'data-testid': 'detail-error' }, errorText(task.error)),
      h('details', {}, h('summary', {}, 'JSON'), json(task.error)));
  }
  if (task.result !== undefined) {
    const text = contentText(task.result?.content);
    parts.push(h('h3', {}, task.result?.isError ? 'Result (isError)' : 'Result'),
      text ? h('pre', { class: 'text', 'data-testid': 'detail-result' }, text) : null,
      h('details', { open: !text }, h('summary', {}, 'JSON'), json(task.result)));
  }
  parts.push(h('h3', {}, 'Parameters'), h('details', {}, h('summary', {}, 'JSON'), json(task.params ?? null)));
  panel.replaceChildren(...parts);
  if (state.historyFocus != null && !state.moreWanted) {
    // Keep the keyboard where it was: on the button while more follow, else on the first event
    // the button brought.
    const before = panel.querySelector(`.timeline > li[data-seq="${CSS.escape(String(state.historyFocus))}"]`);
    state.historyFocus = null;
    (panel.querySelector('#history-more') ?? before?.nextElementSibling)?.focus();
  }
}

/** What a question asks: an elicitation's message, or a sampling request's last message. */
function question(method, params) {
  if (method === 'sampling/createMessage') {
    const messages = params?.messages ?? [];
    const last = messages[messages.length - 1];
    return last ? `${last.role ?? 'user'}: ${contentText(last.content)}` : '(no message)';
  }
  if (typeof params?.message === 'string') return params.message;
  return JSON.stringify(params ?? null);
}

/** An answer as kept: the JSON-RPC response, `{result}` or `{error}`. */
function answer(reply) {
  if (reply == null) return ['(no answer)'];
  if (reply.error !== undefined) return [h('span', { class: 'error' }, `error: ${errorText(reply.error)}`)];
  const response = reply.result ?? reply;
  if (typeof response.action === 'string') {
    return [h('span', { class: `badge answer-${response.action}` }, response.action),
      response.content !== undefined ? [' ', h('code', {}, JSON.stringify(response.content))] : null];
  }
  if (response.content !== undefined && response.role !== undefined) {
    return [`${response.role}: ${contentText(response.content)}`, response.model ? h('span', { class: 'muted' }, ` (${response.model})`) : null];
  }
  const { _meta, ...rest } = response;
  return [json(rest)];
}

function describe(event) {
  switch (event.type) {
    case 'created':
      return ['Created', [
        [event.kind, event.tool].filter(Boolean).join(' '),
        h('div', { class: 'muted' }, [
          `owner ${owner(event.owner)}`,
          event.session ? `session ${event.session}` : null,
          event.runner ? `runner ${event.runner}` : null,
        ].filter(Boolean).join(' · ')),
      ]];
    case 'message':
      return ['Status message', [event.statusMessage ?? '(cleared)']];
    case 'inputRequested':
      return [event.method === 'sampling/createMessage' ? 'Sampling request sent' : 'Question asked', [
        h('div', { class: 'quote', 'data-testid': 'question' }, question(event.method, event.params)),
        h('div', { class: 'muted mono' }, `${event.method} · ${event.key}`),
      ]];
    case 'inputAnswered':
      return ['Answer received', [h('div', { 'data-testid': 'answer' }, answer(event.response)),
        h('div', { class: 'muted mono' }, event.key)]];
    case 'progress':
      return ['Progress', [
        event.total != null
          ? h('progress', { max: event.total, value: event.progress, 'aria-label': 'progress' })
          : null,
        ` ${event.progress}${event.total != null ? ` / ${event.total}` : ''}`,
        event.message ? ` — ${event.message}` : '',
      ]];
    case 'completed':
      return ['Completed', []];
    case 'failed':
      return ['Failed', [h('span', { class: 'error' }, errorText(event.error))]];
    case 'cancelled':
      return ['Cancelled', [event.by ? `by ${event.by}` : 'by an unknown requestor']];
    case 'recovered':
      return ['Recovered after a restart', [
        event.rerun ? 'running again from the start' : 'not resumable, so it ended',
        event.statusMessage ? h('div', { class: 'muted' }, event.statusMessage) : null,
      ]];
    case 'resultRetrieved':
      return ['Result retrieved', [event.by ? `by ${event.by}` : '']];
    default:
      return [event.type ?? 'event', [json(event)]];
  }
}

function renderTimeline(history) {
  if (!history.length) return h('p', { class: 'muted' }, 'No history recorded.');
  return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, history.map((event) => {
    const [title, body] = describe(event);
    return h('li', { 'data-testid': 'timeline-item', tabindex: -1, dataset: { type: event.type ?? '', seq: event.seq ?? '' } },
      h('div', { class: 'when' }, h('time', { datetime: event.at, title: when(event.at) }, clock(event.at))),
      h('div', { class: 'what' },
        h('div', { class: 'title' }, h('strong', {}, title), ' ', badge(event.status)),
        h('div', { class: 'body' }, body)));
  }));
}

// ---------------------------------------------------------------------------------------------
// Wiring

function start() {
  tokenFromHash();
  $('#login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#login-token').value.trim();
    if (!token) {
      $('#login-message').textContent = 'Enter the admin token.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    enter(token);
  });
  $('#logout').addEventListener('click', () => showLogin('Signed out.'));
  $('#search-form').addEventListener('submit', searchTask);
  $('#filters').addEventListener('change', (event) => {
    if (event.target.id !== 'filter-tool') filtersChanged();
  });
  let typing = null;
  $('#filter-tool').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(filtersChanged, 300);
  });
  $('#filters').addEventListener('reset', () => setTimeout(filtersChanged));
  $('#page-older').addEventListener('click', () => {
    if (!state.nextCursor) return;
    state.previous.push(state.cursor);
    state.cursor = state.nextCursor;
    showPage();
  });
  $('#page-newer').addEventListener('click', () => {
    if (!state.previous.length) return;
    state.cursor = state.previous.pop();
    showPage();
  });
  $('#page-newest').addEventListener('click', filtersChanged);
  window.addEventListener('hashchange', () => {
    if (/^#token=/.test(location.hash)) {
      tokenFromHash();
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) enter(token);
      return;
    }
    if (state.token) route();
  });
  window.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.selected && !event.target.closest?.('input, select, textarea')) closeTask();
  });
  setInterval(() => {
    const task = state.detail?.task;
    if (state.token && !document.hidden && task && task.taskId === state.selected && !TERMINAL.has(task.status)) {
      guarded('the task', loadDetail);
    }
  }, PROGRESS_POLL_MS);
  // Relative ages ("3 min ago") age without any change to announce.
  setInterval(() => {
    if (state.token && !document.hidden) {
      renderTasks();
      if (state.overview) renderOverview();
    }
  }, 30000);

  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) enter(token);
  else showLogin();
}

start();
