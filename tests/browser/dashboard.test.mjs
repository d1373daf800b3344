// The admin dashboard in a real browser (issue 15 item 5): Debian's headless Chromium driven by
// playwright-core, against a running `mcp-tasks serve --admin …` whose tasks are made by our own
// client commands (`mcp-tasks call … --task`), as an operator's users would make them.
//
// Run by crates/mcp-tasks/tests/dashboard.rs, which starts the server and sets:
//   DASHBOARD_URL    the admin address, http://127.0.0.1:PORT/
//   DASHBOARD_TOKEN  the admin token
//   MCP_URL          the MCP endpoint, http://127.0.0.1:PORT/mcp
//   MCP_TOKEN        a bearer token of that server's --auth-tokens (its subject owns the tasks)
//   MCP_TASKS_BIN    the mcp-tasks binary
// Optional:
//   CHROMIUM               the browser (default /usr/bin/chromium)
//   DASHBOARD_SCREENSHOTS  "1" writes docs/img/dashboard-list.png and dashboard-timeline.png
//
// A failing step saves a screenshot of the page in the temporary directory and names it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this through crates/mcp-tasks/tests/dashboard.rs ` +
      '(cargo test -p mcp-tasks --test dashboard), which starts the server and sets it');
  }
  return value;
}

const DASHBOARD = setting('DASHBOARD_URL');
const ADMIN_TOKEN = setting('DASHBOARD_TOKEN');
const MCP_URL = setting('MCP_URL');
const MCP_TOKEN = setting('MCP_TOKEN');
const BIN = setting('MCP_TASKS_BIN');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS === '1'
  ? path.resolve(HERE, '../../docs/img')
  : null;

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** How long one page expectation may take: the machine may be busy with other builds. */
const STEP_MS = 20000;
/** How long a client command may take. */
const COMMAND_MS = 60000;

let browser;
let scratch;

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-tasks-dashboard-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** A fresh browser tab (its own sessionStorage), with page errors collected. */
async function newPage({ height = 1000 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}

/** Runs `body`; on failure saves a screenshot of `page` and names it in the error. */
async function step(page, name, body) {
  try {
    await body();
  } catch (e) {
    const file = path.join(os.tmpdir(), `mcp-tasks-dashboard-${name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    e.message += `\n(screenshot of the page: ${file}; page errors: ${JSON.stringify(page.errors)})`;
    throw e;
  }
}

async function signedIn() {
  const page = await newPage();
  await page.goto(`${DASHBOARD}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
  await page.getByTestId('dashboard').waitFor();
  await page.locator('[data-testid=live-status][data-state=live]').waitFor();
  return page;
}

/** The admin API, as the page calls it. */
async function adminApi(pathname, init = {}) {
  const response = await fetch(new URL(pathname, DASHBOARD), {
    ...init,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) },
  });
  const body = await response.json();
  assert.equal(response.status, 200, `${pathname}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * `mcp-tasks call TOOL ARGS --task` against the server, as alice. Resolves `id` when the command
 * says the task was created, and `done` with its exit code and output when it exits.
 */
function call(tool, args, { answers } = {}) {
  const argv = ['call', tool, JSON.stringify(args), '--task', '--protocol', '2025-11-25', '--url', MCP_URL];
  if (answers !== undefined) {
    const file = path.join(scratch, `answers-${tool}-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(answers));
    argv.push('--answers', file);
  }
  const child = spawn(BIN, argv, {
    env: { ...process.env, MCP_TASKS_TOKEN: MCP_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let found;
  const id = new Promise((resolve, reject) => { found = { resolve, reject }; });
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    const match = /task (\S+) created/.exec(stderr);
    if (match) found.resolve(match[1]);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_MS);
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      found.reject(new Error(`mcp-tasks ${argv.join(' ')} exited (${code ?? signal}) before it said ` +
        `"task … created"; stderr:\n${stderr}`));
      resolve({ code, signal, stdout, stderr });
    });
  });
  id.catch(() => {});
  return { id, done, argv };
}

/** Waits until the element's text matches: the page fills it in when its data arrives. */
async function shows(locator, pattern) {
  await locator.filter({ hasText: pattern }).waitFor();
}

function row(page, id) {
  return page.locator(`[data-testid=task-row][data-task-id="${id}"]`);
}

/** Saves the page, or one part of it, as docs/img/dashboard-NAME.png. */
async function screenshot(target, name, options = {}) {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await target.screenshot({ path: path.join(SCREENSHOTS, `dashboard-${name}.png`), animations: 'disabled', ...options });
}

describe('signing in', () => {
  test('a wrong token in /#token= shows the login form with a message', async () => {
    const page = await newPage();
    await step(page, 'wrong-token', async () => {
      await page.goto(`${DASHBOARD}#token=not-the-admin-token`);
      await page.getByTestId('login-form').waitFor();
      assert.match(await page.getByTestId('login-message').textContent(), /refused/);
      assert.equal(await page.getByTestId('dashboard').isHidden(), true);
      assert.equal(await page.evaluate(() => location.hash), '', 'the token is taken out of the address');
      assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
    });
    await page.context().close();
  });

  test('the login form signs in with the token typed, once per tab', async () => {
    const page = await newPage();
    await step(page, 'typed-token', async () => {
      await page.goto(DASHBOARD);
      await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('dashboard').waitFor();
      await shows(page.getByTestId('server-role'), /^serve$/);
      await page.reload();
      await page.getByTestId('dashboard').waitFor();
      assert.equal(await page.getByTestId('login').isHidden(), true, 'the token is kept for the tab');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByTestId('login-form').waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    });
    await page.context().close();
  });

  test('/#token=TOKEN signs in without typing and leaves no token in the address', async () => {
    const page = await newPage();
    await step(page, 'hash-token', async () => {
      const entries = await page.evaluate(() => history.length);
      await page.goto(`${DASHBOARD}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
      await page.getByTestId('dashboard').waitFor();
      assert.equal(await page.getByTestId('login').isHidden(), true);
      assert.equal(page.url(), DASHBOARD);
      assert.equal(await page.evaluate(() => history.length), entries + 1,
        'the address with the token was replaced, not followed by another entry');
      await page.getByTestId('stat-ready').getByText('ready', { exact: true }).waitFor();
      assert.deepEqual(page.errors, []);
    });
    await page.context().close();
  });
});

describe('tasks', () => {
  let page;
  before(async () => { page = await signedIn(); });
  after(async () => { await page?.context().close(); });

  test('the list shows a task created after the page loaded, without a reload', async () => {
    await step(page, 'list-updates', async () => {
      await page.evaluate(() => { window.loadedOnce = true; });
      const run = call('must_be_task', { delay_ms: 1500 });
      const id = await run.id;
      await row(page, id).waitFor();
      assert.equal(await row(page, id).getByRole('cell').nth(2).textContent(), 'must_be_task');
      await row(page, id).locator('[data-status=completed]').waitFor();
      assert.equal(await page.evaluate(() => window.loadedOnce), true, 'the page was not reloaded');
      const { code, stderr } = await run.done;
      assert.equal(code, 0, stderr);
    });
  });

  test('the timeline shows an elicitation asked and answered', async () => {
    await step(page, 'timeline', async () => {
      const run = call('ask_name', {}, { answers: { name: 'Ada' } });
      const id = await run.id;
      const { code, stdout, stderr } = await run.done;
      assert.equal(code, 0, stderr);
      assert.match(stdout, /Hello, Ada!/);

      await page.getByLabel('Open a task by its id').fill('no-such-task');
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByTestId('search-message').getByText('No task has the id no-such-task').waitFor();

      await page.getByLabel('Open a task by its id').fill(id);
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      const detail = page.getByTestId('task-detail');
      await detail.getByTestId('detail-id').getByText(id).waitFor();
      await detail.locator('[data-testid=detail-status][data-status=completed]').waitFor();
      assert.equal(await page.evaluate(() => location.hash), `#task=${id}`);

      const asked = detail.locator('[data-testid=timeline-item][data-type=inputRequested]');
      await asked.waitFor();
      assert.equal(await asked.getByTestId('question').textContent(), 'What is your name?');
      const answered = detail.locator('[data-testid=timeline-item][data-type=inputAnswered]');
      assert.match(await answered.getByTestId('answer').textContent(), /accept.*"name":"Ada"/);
      assert.match(await detail.getByTestId('detail-result').textContent(), /Hello, Ada!/);
      const types = await detail.getByTestId('timeline-item').evaluateAll(
        (items) => items.map((item) => item.dataset.type));
      assert.equal(types[0], 'created');
      assert.ok(types.indexOf('inputRequested') < types.indexOf('inputAnswered'), types.join(' '));
      assert.ok(types.indexOf('inputAnswered') < types.indexOf('completed'), types.join(' '));
      assert.equal(await detail.getByTestId('cancel-button').count(), 0, 'a finished task has no cancel button');
    });
  });

  test('the cancel button asks first, then cancels the task', async () => {
    await step(page, 'cancel', async () => {
      const run = call('slow_echo', { text: 'never said', delay_ms: 600000 });
      const id = await run.id;
      await row(page, id).getByRole('button', { name: `Open task ${id}` }).click();
      const detail = page.getByTestId('task-detail');
      await detail.locator('[data-testid=detail-status][data-status=working]').waitFor();
      const cancels = [];
      page.on('request', (request) => {
        if (request.url().endsWith(`/api/tasks/${id}/cancel`)) cancels.push(request.method());
      });

      page.once('dialog', (dialog) => dialog.dismiss());
      await detail.getByTestId('cancel-button').click();
      assert.equal(await detail.getByTestId('cancel-button').isEnabled(), true);
      assert.deepEqual(cancels, [], 'dismissed: nothing is sent');
      assert.equal((await adminApi(`api/tasks/${id}`)).task.status, 'working', 'dismissed: not cancelled');

      page.once('dialog', (dialog) => dialog.accept());
      await detail.getByTestId('cancel-button').click();
      await detail.locator('[data-testid=detail-status][data-status=cancelled]').waitFor();
      await shows(detail.getByTestId('cancel-result'), /^Cancelled/);
      assert.deepEqual(cancels, ['POST']);
      const cancelled = detail.locator('[data-testid=timeline-item][data-type=cancelled]');
      assert.match(await cancelled.textContent(), /by admin/);
      await row(page, id).locator('[data-status=cancelled]').waitFor();
      assert.equal(await detail.getByTestId('cancel-button').count(), 0);

      const { task, history } = await adminApi(`api/tasks/${id}`);
      assert.equal(task.status, 'cancelled');
      const event = history.find((e) => e.type === 'cancelled');
      assert.equal(event?.by, 'admin', JSON.stringify(history));
      const { code, stderr } = await run.done;
      assert.equal(code, 4, `the caller sees its task cancelled (exit 4); stderr:\n${stderr}`);
    });
  });

  // A task with more than 1000 events would take minutes to make, so the page is shown a first
  // page cut short: the server's answer to `GET /api/tasks/ID` (no `after`) keeps its first event
  // and says `historyMore`. Every `?after=SEQ` read goes to the server as it is.
  test('the timeline loads more events, and its re-reads keep them (issue 15 item 1)', async () => {
    const tab = await signedIn();
    await step(tab, 'history-pages', async () => {
      const run = call('countdown', { from: 600, interval_ms: 100 });
      const id = await run.id;
      run.done.catch(() => {});
      // Progress enters the history at most once a second: wait for a few events to page through.
      for (let tries = 0; (await adminApi(`api/tasks/${id}`)).history.length < 3; tries += 1) {
        assert.ok(tries < 100, 'the countdown noted no progress in its history');
        await new Promise((resolve) => { setTimeout(resolve, 200); });
      }
      const reads = [];
      tab.on('request', (request) => {
        const url = new URL(request.url());
        if (url.pathname === `/api/tasks/${id}`) reads.push(url.search);
      });
      await tab.route((url) => url.pathname === `/api/tasks/${id}` && url.search === '', async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        body.history = body.history.slice(0, 1);
        body.historyMore = true;
        await route.fulfill({ response, json: body });
      });

      await tab.goto(`${DASHBOARD}#task=${encodeURIComponent(id)}`);
      const detail = tab.getByTestId('task-detail');
      const items = detail.getByTestId('timeline-item');
      await shows(detail.getByTestId('history-more-row'), /Showing the first 1 event; more follow/);
      assert.equal(await items.count(), 1);

      await detail.getByRole('button', { name: 'Load more events' }).click();
      await detail.locator('[data-testid=timeline-item][data-seq="3"]').waitFor();
      assert.equal(await detail.getByTestId('history-more').count(), 0, 'every event is shown');
      assert.ok(reads.includes('?after=1'), `the next page was asked for: ${JSON.stringify(reads)}`);

      // The 2 s re-read of the unfinished task appends what followed, and keeps what was shown.
      const shown = await items.count();
      await detail.locator(`[data-testid=timeline-item][data-seq="${shown + 1}"]`).waitFor();
      const seqs = await items.evaluateAll((list) => list.map((item) => Number(item.dataset.seq)));
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'every event once, in order');
      assert.equal(reads.filter((search) => search === '').length, 1,
        `only the first read asks for the first page: ${JSON.stringify(reads)}`);
      assert.deepEqual(tab.errors, []);

      await adminApi(`api/tasks/${id}/cancel`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      await run.done;
    });
    await tab.context().close();
  });

  // A store that cannot count, or a hundred owners, cannot be made cheaply from outside the
  // server (the server's side is in crates/runtime/tests/admin.rs); the page is shown the
  // server's own overview with those fields changed.
  test('the overview says when the counts are unknown or owners are left out (issue 15 items 2 and 3)', async () => {
    const tab = await newPage();
    await step(tab, 'overview-flags', async () => {
      let change = null;
      await tab.route((url) => url.pathname === '/api/overview', async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        change(body);
        await route.fulfill({ response, json: body });
      });

      change = (body) => {
        body.counts.byOwner = Array.from({ length: 100 }, (_, i) => ({
          owner: `user-${i}`, working: 0, input_required: 0, completed: 1, failed: 0, cancelled: 0, total: 1,
        }));
        body.counts.byOwnerMore = true;
      };
      await tab.goto(`${DASHBOARD}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
      await shows(tab.getByTestId('owners-more'), /^Showing the 100 largest owners/);
      assert.equal(await tab.locator('#owners-body tr').count(), 100);
      assert.equal(await tab.getByTestId('counts-error').count(), 0);

      const reason = 'the store took longer than 5 s to count its tasks';
      change = (body) => {
        body.counts = { byStatus: { working: 0, input_required: 0, completed: 0, failed: 0, cancelled: 0 }, byOwner: [], byOwnerMore: false };
        body.countsError = reason;
      };
      await tab.reload();
      await shows(tab.getByTestId('stat-store').getByTestId('counts-error'), new RegExp(`counts unavailable ${reason}`));
      await shows(tab.getByTestId('owners-unknown'), /could not count its tasks/);
      assert.equal(await tab.getByTestId('owners-more').isHidden(), true);
      const counts = await tab.locator('#filters [data-count]').allTextContents();
      assert.ok(counts.length > 0 && counts.every((text) => text === ''), `no zeros shown as counts: ${counts}`);
      assert.deepEqual(tab.errors, []);
    });
    await tab.context().close();
  });

  test('screenshots for the README', { skip: !SCREENSHOTS && 'DASHBOARD_SCREENSHOTS is not 1' }, async () => {
    const shots = await newPage({ height: 600 });
    await step(shots, 'screenshots', async () => {
      const busy = call('countdown', { from: 60, interval_ms: 1000 });
      const failing = call('fail', { message: 'the disk is full' });
      const asking = call('ask_name', {}, { answers: { name: 'Grace' } });
      const ids = await Promise.all([busy.id, failing.id, asking.id]);
      await Promise.all([failing.done, asking.done]);
      await shots.goto(`${DASHBOARD}#token=${encodeURIComponent(ADMIN_TOKEN)}`);
      await shots.locator('[data-testid=live-status][data-state=live]').waitFor();
      await row(shots, ids[0]).locator('[data-status=working]').waitFor();
      await row(shots, ids[2]).locator('[data-status=completed]').waitFor();
      await screenshot(shots, 'list', { fullPage: true });
      await row(shots, ids[2]).getByRole('button', { name: `Open task ${ids[2]}` }).click();
      await shots.getByTestId('timeline').waitFor();
      // Tall enough for the whole timeline; only the list and the task are kept.
      await shots.setViewportSize({ width: 1440, height: 1800 });
      await screenshot(shots.locator('#workspace'), 'timeline');
      busy.done.catch(() => {});
      await adminApi(`api/tasks/${ids[0]}/cancel`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      await busy.done;
    });
    await shots.context().close();
  });
});
