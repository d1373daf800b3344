// A small MCP client written with the TypeScript SDK (@modelcontextprotocol/sdk, its experimental
// tasks API) that drives a task server through the MCP 2025-11-25 task lifecycle and checks what
// it answers. Requirement IDs are those of ../shared/spec/REQUIREMENTS.md.
//
//   node client.mjs --url http://127.0.0.1:PORT/mcp    Streamable HTTP
//   node client.mjs -- CMD ARGS...                     stdio: spawns CMD ARGS...
//
// It declares the elicitation capability and accepts every elicitation with {name: "Ada"}. Then:
// initialize (T-CAP-1), tools/list (T-CAP-5), a plain call of an optional tool, a plain call of a
// required tool (-32601, T-CAP-5), slow_echo as a task polled with tasks/get until terminal
// (T-NEW-1, T-NEW-3, T-OBJ-1, T-OBJ-2, T-GET-1, T-GET-2, T-LIFE-1) and its tasks/result (T-RES-1,
// T-RES-3), slow_echo through callToolStream without a task option (the SDK augments it itself,
// T-CAP-3), ask_name through the SDK's callToolStream, which calls tasks/result on input_required
// and answers the elicitation that comes over it (T-RES-4, T-META-1), fail as a task (T-LIFE-3), a
// long slow_echo cancelled with tasks/cancel (T-CAN-1) and cancelled again (T-CAN-2), ask_name
// cancelled while input_required, and tasks/list (T-LIST-1, T-LIST-2).
//
// Prints one JSON object summarising every step on stdout and exits 0, or prints what mismatched
// on stderr and exits 1 (2 for bad usage).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
    CallToolResultSchema,
    CreateTaskResultSchema,
    ElicitRequestSchema,
    McpError,
    RELATED_TASK_META_KEY
} from '@modelcontextprotocol/sdk/types.js';

/** The whole run may take this long. */
const OVERALL_TIMEOUT_MS = 90_000;
/** Per request; tasks/result may block while a task runs. */
const REQUEST_TIMEOUT_MS = 30_000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const STATUSES = new Set(['working', 'input_required', ...TERMINAL]);
const NAME = 'Ada';

const summary = { ok: false, transport: null, steps: {} };

class Mismatch extends Error {}

function check(condition, message, detail) {
    if (!condition) {
        throw new Mismatch(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
    }
}

function usage(message) {
    console.error(`${message}\nusage: node client.mjs --url URL | node client.mjs -- CMD ARGS...`);
    process.exit(2);
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Wire tap: every JSON-RPC message in both directions, and (on HTTP) which messages arrived on
// the SSE stream of a tasks/result POST.

const wire = [];
/** Outgoing tasks/result requests not answered yet: JSON-RPC id -> taskId. */
const openResults = new Map();
/** JSON-RPC ids of server requests that arrived on a tasks/result POST's SSE stream (HTTP). */
const onResultStream = new Set();

function tapTransport(transport) {
    const send = transport.send.bind(transport);
    transport.send = async (message, options) => {
        wire.push({ dir: 'out', message });
        if (message.method === 'tasks/result') {
            openResults.set(message.id, message.params?.taskId);
        }
        return send(message, options);
    };
    // Set before connect: the SDK's Protocol keeps this handler and calls it first for each message.
    transport.onmessage = message => {
        wire.push({ dir: 'in', message });
        if (message.method === undefined && message.id !== undefined) {
            openResults.delete(message.id);
        }
    };
}

/** A fetch that watches the SSE bodies of tasks/result POSTs for server requests. */
function tappingFetch(url, init) {
    let method;
    if (init?.method === 'POST' && typeof init.body === 'string') {
        try {
            method = JSON.parse(init.body).method;
        } catch {
            method = undefined;
        }
    }
    return fetch(url, init).then(response => {
        const type = response.headers.get('content-type') ?? '';
        if (method !== 'tasks/result' || !type.includes('text/event-stream') || !response.body) {
            return response;
        }
        const decoder = new TextDecoder();
        let pending = '';
        const watch = new TransformStream({
            transform(chunk, controller) {
                pending += decoder.decode(chunk, { stream: true });
                const lines = pending.split('\n');
                pending = lines.pop();
                for (const line of lines) {
                    if (!line.startsWith('data:')) continue;
                    try {
                        const message = JSON.parse(line.slice(5));
                        if (message.method !== undefined && message.id !== undefined) {
                            onResultStream.add(message.id);
                        }
                    } catch {
                        // not JSON: the transport will complain
                    }
                }
                controller.enqueue(chunk);
            }
        });
        return new Response(response.body.pipeThrough(watch), {
            status: response.status,
            statusText: response.statusText,
            headers: response.headers
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Checks of what the server answers.

function checkTimestamp(task, field) {
    check(typeof task[field] === 'string' && !Number.isNaN(Date.parse(task[field])), `T-OBJ-1: ${field} must be an RFC 3339 timestamp`, task);
}

/** T-OBJ-1, T-OBJ-2: a Task with every field it must carry. */
function checkTask(task, what) {
    check(task && typeof task === 'object', `${what}: not a Task`, task);
    check(typeof task.taskId === 'string' && task.taskId.length > 0, `${what}: taskId must be a non-empty string`, task);
    check(STATUSES.has(task.status), `${what}: unknown status`, task);
    checkTimestamp(task, 'createdAt');
    checkTimestamp(task, 'lastUpdatedAt');
    check('ttl' in task && (task.ttl === null || (Number.isInteger(task.ttl) && task.ttl > 0)), `T-OBJ-2 (${what}): ttl must be present, a positive integer or null`, task);
    if (task.pollInterval !== undefined) {
        check(Number.isInteger(task.pollInterval) && task.pollInterval > 0, `T-OBJ-1 (${what}): pollInterval must be a positive integer`, task);
    }
    if (task.statusMessage !== undefined) {
        check(typeof task.statusMessage === 'string', `T-OBJ-1 (${what}): statusMessage must be a string`, task);
    }
}

/** T-LIFE-1, T-LIFE-2: each observed status change is an allowed step. */
function checkTransitions(statuses, what) {
    const seen = statuses.filter((s, i) => i === 0 || statuses[i - 1] !== s);
    for (let i = 1; i < seen.length; i++) {
        const [from, to] = [seen[i - 1], seen[i]];
        const allowed = (from === 'working' && to !== 'working') || (from === 'input_required' && to !== 'input_required');
        check(allowed && !TERMINAL.has(from), `T-LIFE-1/T-LIFE-2 (${what}): ${from} -> ${to} is not allowed; observed`, seen);
    }
    return seen;
}

function firstText(result) {
    const block = result?.content?.find(b => b.type === 'text');
    return block?.text;
}

function relatedTaskId(meta) {
    return meta?.[RELATED_TASK_META_KEY]?.taskId;
}

async function expectRpcError(promise, code, what) {
    try {
        const result = await promise;
        throw new Mismatch(`${what}: expected JSON-RPC error ${code}, got a result: ${JSON.stringify(result)}`);
    } catch (error) {
        if (error instanceof Mismatch) throw error;
        check(error instanceof McpError, `${what}: expected JSON-RPC error ${code}, got ${error}`);
        check(error.code === code, `${what}: expected JSON-RPC error ${code}, got ${error.code} (${error.message})`);
        return error;
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

async function createTask(client, name, args, ttl) {
    const created = await client.request(
        { method: 'tools/call', params: { name, arguments: args } },
        CreateTaskResultSchema,
        { task: { ttl }, timeout: REQUEST_TIMEOUT_MS }
    );
    const raw = lastIncomingResult();
    check(raw && !('content' in raw) && !('isError' in raw), `T-NEW-1: a task-augmented ${name} must answer CreateTaskResult, not the tool's result`, raw);
    checkTask(created.task, `CreateTaskResult of ${name}`);
    check(created.task.status === 'working', `T-NEW-3: a new ${name} task starts working`, created.task);
    return created.task;
}

/** The result of the last response received (for checks the SDK's parsing would hide). */
function lastIncomingResult() {
    for (let i = wire.length - 1; i >= 0; i--) {
        const { dir, message } = wire[i];
        if (dir === 'in' && message.method === undefined && 'result' in message) return message.result;
    }
    return undefined;
}

/** T-GET-2: polls tasks/get no faster than pollInterval until the task is terminal. */
async function pollUntilTerminal(client, taskId, what) {
    const statuses = [];
    const gaps = [];
    let last = Date.now();
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (;;) {
        const task = await client.experimental.tasks.getTask(taskId, { timeout: REQUEST_TIMEOUT_MS });
        checkTask(task, `tasks/get of ${what}`);
        check(task.taskId === taskId, `T-GET-1: tasks/get answered for another task`, task);
        check(!('task' in task), 'T-GET-1: tasks/get returns the Task itself, not wrapped', task);
        check(relatedTaskId(lastIncomingResult()?._meta) === undefined, 'T-META-2: a tasks/get result carries no related-task _meta', lastIncomingResult());
        statuses.push(task.status);
        if (TERMINAL.has(task.status)) {
            return { task, statuses: checkTransitions(statuses, what), polls: statuses.length, minGapMs: gaps.length ? Math.min(...gaps) : null };
        }
        check(Date.now() < deadline, `${what} did not finish within ${REQUEST_TIMEOUT_MS} ms; statuses`, statuses);
        await sleep(task.pollInterval ?? 500);
        const now = Date.now();
        gaps.push(now - last);
        last = now;
    }
}

async function run(target) {
    const elicitations = [];
    const client = new Client(
        { name: 'mcp-tasks-interop-ts-client', version: '0.0.0' },
        {
            capabilities: { elicitation: { form: {} } },
            // T-CAP-3: the SDK refuses to task-augment a request the server did not declare.
            enforceStrictCapabilities: true
        }
    );
    client.setRequestHandler(ElicitRequestSchema, async (request, extra) => {
        const taskId = relatedTaskId(request.params._meta);
        elicitations.push({
            id: extra.requestId,
            relatedTask: taskId ?? null,
            message: request.params.message,
            onTasksResultExchange: [...openResults.values()].includes(taskId),
            onTasksResultStream: onResultStream.has(extra.requestId)
        });
        const answer = { action: 'accept', content: { name: NAME } };
        // T-META-1: the answer to a task's request carries the task's related-task _meta too.
        return taskId ? { ...answer, _meta: { [RELATED_TASK_META_KEY]: { taskId } } } : answer;
    });

    let transport;
    if (target.url) {
        summary.transport = 'http';
        transport = new StreamableHTTPClientTransport(new URL(target.url), { fetch: tappingFetch });
    } else {
        summary.transport = 'stdio';
        const env = getDefaultEnvironment();
        if (process.env.RUST_LOG) env.RUST_LOG = process.env.RUST_LOG;
        transport = new StdioClientTransport({ command: target.command[0], args: target.command.slice(1), env, stderr: 'inherit' });
    }
    tapTransport(transport);
    await client.connect(transport);
    const steps = summary.steps;

    // T-CAP-1: the server declares tasks for tools/call, with list and cancel.
    const caps = client.getServerCapabilities();
    check(caps?.tasks?.requests?.tools?.call, 'T-CAP-1: the server must declare capabilities.tasks.requests.tools.call', caps);
    check(caps.tasks.list && caps.tasks.cancel, 'T-CAP-1: the server must declare capabilities.tasks.list and .cancel', caps.tasks);
    const initialized = wire.find(({ dir, message }) => dir === 'in' && message.result?.protocolVersion);
    steps.initialize = { server: client.getServerVersion(), protocolVersion: initialized?.message.result.protocolVersion ?? null, tasks: caps.tasks };

    // T-CAP-5: execution.taskSupport of each tool.
    const { tools } = await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
    const support = Object.fromEntries(tools.map(t => [t.name, t.execution?.taskSupport ?? 'forbidden']));
    check(support.slow_echo === 'optional', 'T-CAP-5: slow_echo has taskSupport optional', support);
    check(support.ask_name === 'required', 'T-CAP-5: ask_name has taskSupport required', support);
    check(support.fail === 'optional', 'T-CAP-5: fail has taskSupport optional', support);
    steps.tools = support;

    // An optional tool called plainly runs plainly.
    const plain = await client.callTool({ name: 'slow_echo', arguments: { text: 'plain', delay_ms: 10 } }, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS });
    check(firstText(plain) === 'plain' && !plain.isError, 'a plain slow_echo call returns its text', plain);
    check(!('task' in plain), 'a plain call of an optional tool makes no task', plain);
    steps.plain_call = { text: firstText(plain) };

    // T-CAP-5: a required tool called plainly is -32601. (client.callTool refuses it locally, so
    // this goes through client.request.)
    const refused = await expectRpcError(
        client.request({ method: 'tools/call', params: { name: 'ask_name', arguments: {} } }, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS }),
        -32601,
        'T-CAP-5: a plain call of ask_name (taskSupport required)'
    );
    steps.required_plain_call = { code: refused.code, message: refused.message };

    // slow_echo as a task: CreateTaskResult, poll tasks/get, tasks/result.
    const echoTask = await createTask(client, 'slow_echo', { text: 'interop', delay_ms: 200 }, 60_000);
    const immediate = await client.experimental.tasks.getTask(echoTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    check(immediate.taskId === echoTask.taskId, 'T-NEW-5: tasks/get right after CreateTaskResult finds the task', immediate);
    const echoPoll = await pollUntilTerminal(client, echoTask.taskId, 'slow_echo task');
    check(echoPoll.task.status === 'completed', 'slow_echo task ends completed', echoPoll.task);
    const echoResult = await client.experimental.tasks.getTaskResult(echoTask.taskId, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS });
    check(firstText(echoResult) === 'interop' && !echoResult.isError, 'T-RES-1: tasks/result of slow_echo returns its CallToolResult', echoResult);
    check(relatedTaskId(echoResult._meta) === echoTask.taskId, 'T-RES-3: a tasks/result result carries related-task _meta', echoResult._meta);
    steps.slow_echo_task = {
        taskId: echoTask.taskId,
        ttl: echoTask.ttl,
        pollInterval: echoTask.pollInterval ?? null,
        statuses: echoPoll.statuses,
        polls: echoPoll.polls,
        minPollGapMs: echoPoll.minGapMs,
        text: firstText(echoResult)
    };

    // ask_name through the SDK's streaming API: it polls, and on input_required calls tasks/result,
    // over which the elicitation comes (T-RES-4); the handler above answers it.
    const askMessages = [];
    let askTask;
    let askResult;
    for await (const message of client.experimental.tasks.callToolStream({ name: 'ask_name', arguments: {} }, CallToolResultSchema, {
        task: { ttl: 60_000 },
        timeout: REQUEST_TIMEOUT_MS
    })) {
        askMessages.push(message.type === 'taskStatus' ? `taskStatus:${message.task.status}` : message.type);
        if (message.type === 'taskCreated') {
            checkTask(message.task, 'CreateTaskResult of ask_name');
            askTask = message.task;
        } else if (message.type === 'taskStatus') {
            checkTask(message.task, 'tasks/get of ask_name');
        } else if (message.type === 'result') {
            askResult = message.result;
        } else if (message.type === 'error') {
            throw new Mismatch(`ask_name: the SDK's callToolStream ended with an error: ${message.error}`);
        }
    }
    check(askTask, 'ask_name: callToolStream yielded no taskCreated', askMessages);
    check(askMessages.includes('taskStatus:input_required'), 'ask_name shows input_required while it waits for its answer', askMessages);
    check(firstText(askResult) === `Hello, ${NAME}!`, `ask_name returns "Hello, ${NAME}!"`, askResult);
    check(relatedTaskId(askResult._meta) === askTask.taskId, 'T-RES-3: the tasks/result result of ask_name carries related-task _meta', askResult._meta);
    const asked = elicitations.filter(e => e.relatedTask === askTask.taskId);
    check(asked.length === 1, 'T-META-1: exactly one elicitation/create carrying the ask_name task in related-task _meta', elicitations);
    check(asked[0].onTasksResultExchange, 'T-RES-4: the elicitation must arrive while tasks/result for the task is open', elicitations);
    if (summary.transport === 'http') {
        check(asked[0].onTasksResultStream, "T-RES-4: on Streamable HTTP the elicitation must arrive on the tasks/result POST's SSE stream", elicitations);
    }
    const askFinal = await client.experimental.tasks.getTask(askTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    check(askFinal.status === 'completed', 'ask_name task ends completed', askFinal);
    steps.ask_name_task = { taskId: askTask.taskId, stream: askMessages, elicitation: asked[0], text: firstText(askResult) };

    // An optional tool through callToolStream without a task option: the SDK augments the call
    // itself, because the server declared tasks for tools/call and the tool's taskSupport (T-CAP-3).
    const autoMessages = [];
    let autoResult;
    for await (const message of client.experimental.tasks.callToolStream({ name: 'slow_echo', arguments: { text: 'auto', delay_ms: 50 } }, CallToolResultSchema, {
        timeout: REQUEST_TIMEOUT_MS
    })) {
        autoMessages.push(message.type === 'taskStatus' ? `taskStatus:${message.task.status}` : message.type);
        if (message.type === 'result') autoResult = message.result;
        if (message.type === 'error') throw new Mismatch(`slow_echo via callToolStream ended with an error: ${message.error}`);
    }
    check(autoMessages[0] === 'taskCreated', 'T-CAP-3: the SDK makes a task of a call to an optional tool of a server declaring tasks.requests.tools.call', autoMessages);
    check(firstText(autoResult) === 'auto', 'slow_echo via callToolStream returns its text', autoResult);
    steps.slow_echo_stream = { stream: autoMessages, text: firstText(autoResult) };

    // fail as a task: failed, with a statusMessage; tasks/result returns the isError result.
    const failTask = await createTask(client, 'fail', {}, 60_000);
    const failPoll = await pollUntilTerminal(client, failTask.taskId, 'fail task');
    check(failPoll.task.status === 'failed', 'T-LIFE-3: a tool result with isError: true fails the task', failPoll.task);
    check(typeof failPoll.task.statusMessage === 'string' && failPoll.task.statusMessage.length > 0, 'T-LIFE-3: a failed task says why in statusMessage', failPoll.task);
    const failResult = await client.experimental.tasks.getTaskResult(failTask.taskId, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS });
    check(failResult.isError === true, 'T-RES-1: tasks/result of a failed tool task returns its isError result', failResult);
    steps.fail_task = { taskId: failTask.taskId, statuses: failPoll.statuses, statusMessage: failPoll.task.statusMessage };

    // A long slow_echo, cancelled.
    const longTask = await createTask(client, 'slow_echo', { text: 'never', delay_ms: 30_000 }, 60_000);
    const cancelled = await client.experimental.tasks.cancelTask(longTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    checkTask(cancelled, 'tasks/cancel result');
    check(cancelled.taskId === longTask.taskId && cancelled.status === 'cancelled', 'T-CAN-1: tasks/cancel answers the full Task, cancelled', cancelled);
    const afterCancel = await client.experimental.tasks.getTask(longTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    check(afterCancel.status === 'cancelled', 'T-CAN-1, T-LIFE-2: a cancelled task stays cancelled', afterCancel);
    const again = await expectRpcError(client.experimental.tasks.cancelTask(longTask.taskId, { timeout: REQUEST_TIMEOUT_MS }), -32602, 'T-CAN-2: cancelling a cancelled task');
    steps.cancel = { taskId: longTask.taskId, status: cancelled.status, statusMessage: cancelled.statusMessage ?? null, cancelAgain: { code: again.code, message: again.message } };

    // ask_name cancelled while it waits for its answer (no tasks/result is open, so the question
    // is not delivered): input_required -> cancelled (T-LIFE-1, T-CAN-1).
    const waitingTask = await createTask(client, 'ask_name', {}, 60_000);
    let waiting;
    const waitDeadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (;;) {
        waiting = await client.experimental.tasks.getTask(waitingTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
        if (waiting.status !== 'working') break;
        check(Date.now() < waitDeadline, 'ask_name never became input_required', waiting);
        await sleep(waiting.pollInterval ?? 500);
    }
    check(waiting.status === 'input_required', 'ask_name waits for its answer in input_required', waiting);
    const cancelledWaiting = await client.experimental.tasks.cancelTask(waitingTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    check(cancelledWaiting.status === 'cancelled', 'T-CAN-1: cancelling an input_required task answers it cancelled', cancelledWaiting);
    await sleep(300);
    const stillCancelled = await client.experimental.tasks.getTask(waitingTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    check(stillCancelled.status === 'cancelled', 'T-LIFE-2: a cancelled task stays cancelled', stillCancelled);
    check(!elicitations.some(e => e.relatedTask === waitingTask.taskId), 'T-RES-4: with no tasks/result open, the question of the cancelled task was not delivered', elicitations);
    steps.cancel_input_required = { taskId: waitingTask.taskId, statuses: [waitingTask.status, waiting.status, stillCancelled.status] };

    // tasks/list, every page.
    const listed = new Map();
    let cursor;
    let pages = 0;
    do {
        const page = await client.experimental.tasks.listTasks(cursor, { timeout: REQUEST_TIMEOUT_MS });
        pages += 1;
        check(pages < 100, 'T-LIST-1: tasks/list never ends');
        for (const task of page.tasks) {
            checkTask(task, 'tasks/list entry');
            listed.set(task.taskId, task.status);
        }
        cursor = page.nextCursor;
    } while (cursor);
    const expected = {
        [echoTask.taskId]: 'completed',
        [askTask.taskId]: 'completed',
        [failTask.taskId]: 'failed',
        [longTask.taskId]: 'cancelled',
        [waitingTask.taskId]: 'cancelled'
    };
    for (const [taskId, status] of Object.entries(expected)) {
        check(listed.get(taskId) === status, `T-LIST-2: tasks/list shows task ${taskId} as ${status}`, Object.fromEntries(listed));
    }
    steps.list = { pages, tasks: listed.size };

    if (transport instanceof StreamableHTTPClientTransport) {
        await transport.terminateSession().catch(() => undefined);
    }
    await client.close();
    summary.ok = true;
}

// ---------------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
let target;
if (argv[0] === '--url' && argv.length === 2) {
    target = { url: argv[1] };
} else if (argv[0] === '--' && argv.length >= 2) {
    target = { command: argv.slice(1) };
} else {
    usage(`bad arguments: ${argv.join(' ')}`);
}

const timer = setTimeout(() => {
    console.error(`interop client: gave up after ${OVERALL_TIMEOUT_MS} ms\nsteps so far: ${JSON.stringify(summary)}`);
    process.exit(1);
}, OVERALL_TIMEOUT_MS);

try {
    await run(target);
    clearTimeout(timer);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exit(0);
} catch (error) {
    clearTimeout(timer);
    const what = error instanceof Mismatch ? 'mismatch' : 'error';
    console.error(`interop client ${what}: ${error?.stack ?? error}`);
    console.error(`steps so far: ${JSON.stringify(summary)}`);
    const tail = wire.slice(-12).map(({ dir, message }) => `${dir === 'out' ? '->' : '<-'} ${JSON.stringify(message)}`);
    console.error(`last messages on the wire:\n${tail.join('\n')}`);
    process.exit(1);
}
