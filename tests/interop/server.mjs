// A small MCP task server written with the TypeScript SDK (@modelcontextprotocol/sdk, its
// experimental tasks API), for interop tests of the mcp-tasks client against another
// implementation of MCP 2025-11-25 tasks.
//
//   node server.mjs                 stdio (newline-delimited JSON-RPC; logs on stderr)
//   node server.mjs --http PORT     Streamable HTTP at http://127.0.0.1:PORT/mcp, stateful
//                                   sessions; PORT 0 picks a free port. Prints exactly one line,
//                                   `listening on http://127.0.0.1:<port>/mcp`, on stdout when ready.
//   --poll-interval MS              (after the above) the pollInterval of every task, default 100.
//                                   The SDK waits this long between looks at a task when it answers
//                                   tasks/result or a plain call of a task tool, so it bounds those
//                                   answers' latency; bench/compare.sh can set it.
//
// Tools (argument names as the mcp-tasks demo server's):
//   slow_echo {text, delay_ms?=1000}  taskSupport optional: waits, then returns the text
//   ask_name {}                       taskSupport required: asks the requestor {name} by elicitation
//                                     from inside the task (the task shows input_required and the
//                                     question travels over tasks/result); returns "Hello, <name>!"
//                                     or, on decline or cancel, "Hello, stranger!"
//   fail {message?}                   taskSupport optional: returns isError: true; as a task it ends
//                                     failed, with the message as statusMessage
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import * as z from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ElicitResultSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import {
    InMemoryTaskMessageQueue,
    InMemoryTaskStore,
    isTerminal
} from '@modelcontextprotocol/sdk/experimental/tasks';

/** The pollInterval every task suggests, in ms (`--poll-interval`). */
let POLL_INTERVAL_MS = 100;

const log = (...args) => console.error('[ts-server]', ...args);

/**
 * The SDK's in-memory store, plus one AbortController per running task, aborted when the task
 * becomes terminal by any other path than its own work finishing (that is, tasks/cancel, which the
 * SDK's Protocol answers by calling updateTaskStatus(taskId, 'cancelled')). The work then stops.
 */
class CancellableTaskStore extends InMemoryTaskStore {
    constructor() {
        super();
        this.running = new Map();
    }

    /** An AbortSignal that fires when the task is cancelled. */
    signalFor(taskId) {
        const controller = new AbortController();
        this.running.set(taskId, controller);
        return controller.signal;
    }

    /** The work is over; nothing to abort any more. */
    finished(taskId) {
        this.running.delete(taskId);
    }

    async updateTaskStatus(taskId, status, statusMessage, sessionId) {
        await super.updateTaskStatus(taskId, status, statusMessage, sessionId);
        if (isTerminal(status)) {
            this.running.get(taskId)?.abort(new Error(`task ${status}`));
            this.running.delete(taskId);
        }
    }
}

// One store and one message queue for every session: task ids are global, the store binds each
// task to the session that created it.
const taskStore = new CancellableTaskStore();
const taskMessageQueue = new InMemoryTaskMessageQueue();

function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal.aborted) {
            reject(signal.reason);
            return;
        }
        const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
    });
}

const text = value => ({ content: [{ type: 'text', text: value }] });

/**
 * Runs `work(signal)` in the background for a task just created, and stores what it returns as the
 * task's result: `completed`, or `failed` for an isError result or a thrown error. A task that was
 * cancelled meanwhile keeps its `cancelled` status (a terminal status is final).
 */
function runInBackground(extra, task, work) {
    const signal = taskStore.signalFor(task.taskId);
    (async () => {
        let result;
        try {
            result = await work(signal);
        } catch (error) {
            if (signal.aborted) {
                return;
            }
            result = { ...text(`error: ${error?.message ?? error}`), isError: true };
        } finally {
            taskStore.finished(task.taskId);
        }
        const current = await extra.taskStore.getTask(task.taskId).catch(() => null);
        if (!current || isTerminal(current.status)) {
            return;
        }
        if (result.isError) {
            // storeTaskResult sets no statusMessage; say why the task failed first (T-LIFE-3).
            const why = result.content?.find(block => block.type === 'text')?.text ?? 'the tool failed';
            await extra.taskStore.updateTaskStatus(task.taskId, 'working', why);
        }
        await extra.taskStore.storeTaskResult(task.taskId, result.isError ? 'failed' : 'completed', result);
    })().catch(error => log(`task ${task.taskId}:`, error));
}

/**
 * Creates the task a task-augmented call asked for (with the ttl it asked for) and returns a copy
 * as it is now: the store's own object changes as the work goes on, and the CreateTaskResult must
 * show the task as created, `working` (T-NEW-3).
 */
async function newTask(extra) {
    const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl, pollInterval: POLL_INTERVAL_MS });
    return { ...task };
}

/** The handlers tasks/get and tasks/result fall back on: the store's view of the task. */
const storeBacked = {
    getTask: async (_args, extra) => extra.taskStore.getTask(extra.taskId),
    getTaskResult: async (_args, extra) => extra.taskStore.getTaskResult(extra.taskId)
};

function newServer() {
    const server = new McpServer(
        { name: 'mcp-tasks-interop-ts-server', version: '0.0.0' },
        {
            capabilities: {
                tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } }
            },
            taskStore,
            taskMessageQueue
        }
    );

    server.experimental.tasks.registerToolTask(
        'slow_echo',
        {
            description: 'Waits delay_ms (default 1000), then returns the text',
            inputSchema: { text: z.string(), delay_ms: z.number().int().min(0).optional() },
            execution: { taskSupport: 'optional' }
        },
        {
            createTask: async ({ text: echo, delay_ms: delay = 1000 }, extra) => {
                const task = await newTask(extra);
                runInBackground(extra, task, async signal => {
                    await extra.taskStore.updateTaskStatus(task.taskId, 'working', `waiting ${delay} ms`);
                    await sleep(delay, signal);
                    return text(echo);
                });
                return { task };
            },
            ...storeBacked
        }
    );

    server.experimental.tasks.registerToolTask(
        'ask_name',
        {
            description: 'Asks your name by elicitation from inside the task; returns a greeting',
            execution: { taskSupport: 'required' }
        },
        {
            createTask: async extra => {
                const task = await newTask(extra);
                runInBackground(extra, task, async signal => {
                    if (!server.server.getClientCapabilities()?.elicitation) {
                        return { ...text('the client does not support elicitation'), isError: true };
                    }
                    // extra.sendRequest with relatedTask: the SDK sets the task input_required, adds
                    // _meta["io.modelcontextprotocol/related-task"], and queues the request for the
                    // task's message queue, which tasks/result delivers (on its SSE stream over HTTP).
                    const answer = await extra.sendRequest(
                        {
                            method: 'elicitation/create',
                            params: {
                                mode: 'form',
                                message: 'What is your name?',
                                requestedSchema: {
                                    type: 'object',
                                    properties: { name: { type: 'string', title: 'Name' } },
                                    required: ['name']
                                }
                            }
                        },
                        ElicitResultSchema,
                        { relatedTask: { taskId: task.taskId }, signal, timeout: 120_000 }
                    );
                    await extra.taskStore.updateTaskStatus(task.taskId, 'working', `answered: ${answer.action}`);
                    const name = answer.action === 'accept' && typeof answer.content?.name === 'string' ? answer.content.name : null;
                    return text(name ? `Hello, ${name}!` : 'Hello, stranger!');
                });
                return { task };
            },
            ...storeBacked
        }
    );

    server.experimental.tasks.registerToolTask(
        'fail',
        {
            description: 'Returns isError: true; as a task it ends failed',
            inputSchema: { message: z.string().optional() },
            execution: { taskSupport: 'optional' }
        },
        {
            createTask: async ({ message = 'failing on purpose' }, extra) => {
                const task = await newTask(extra);
                runInBackground(extra, task, async () => ({ ...text(message), isError: true }));
                return { task };
            },
            ...storeBacked
        }
    );

    return server;
}

async function serveStdio() {
    const server = newServer();
    const transport = new StdioServerTransport();
    // The store's ttl timers would keep node alive after the client has gone.
    process.stdin.on('end', () => process.exit(0));
    transport.onclose = () => process.exit(0);
    await server.connect(transport);
    log('serving on stdio');
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', chunk => chunks.push(chunk));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

function plainError(res, status, message) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

async function serveHttp(port) {
    /** Mcp-Session-Id -> transport; each session has its own McpServer. */
    const sessions = new Map();

    const httpServer = createServer(async (req, res) => {
        try {
            const url = new URL(req.url ?? '/', 'http://127.0.0.1');
            if (url.pathname !== '/mcp') {
                plainError(res, 404, 'not found: the endpoint is /mcp');
                return;
            }
            const sessionId = req.headers['mcp-session-id'];
            if (req.method === 'POST') {
                const raw = await readBody(req);
                let body;
                try {
                    body = JSON.parse(raw);
                } catch {
                    res.writeHead(400, { 'content-type': 'application/json' });
                    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
                    return;
                }
                if (sessionId === undefined && isInitializeRequest(body)) {
                    const transport = new StreamableHTTPServerTransport({
                        sessionIdGenerator: () => randomUUID(),
                        onsessioninitialized: id => {
                            sessions.set(id, transport);
                        }
                    });
                    transport.onclose = () => {
                        if (transport.sessionId) {
                            sessions.delete(transport.sessionId);
                        }
                    };
                    await newServer().connect(transport);
                    await transport.handleRequest(req, res, body);
                    return;
                }
                const transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
                if (!transport) {
                    plainError(res, sessionId === undefined ? 400 : 404, sessionId === undefined ? 'no Mcp-Session-Id' : 'unknown session');
                    return;
                }
                await transport.handleRequest(req, res, body);
                return;
            }
            if (req.method === 'GET' || req.method === 'DELETE') {
                const transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
                if (!transport) {
                    plainError(res, sessionId === undefined ? 400 : 404, sessionId === undefined ? 'no Mcp-Session-Id' : 'unknown session');
                    return;
                }
                await transport.handleRequest(req, res);
                return;
            }
            res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
        } catch (error) {
            log('request failed:', error);
            if (!res.headersSent) {
                plainError(res, 500, 'internal error');
            }
        }
    });

    await new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, '127.0.0.1', resolve);
    });
    const { port: actual } = httpServer.address();
    process.stdout.write(`listening on http://127.0.0.1:${actual}/mcp\n`);
}

function usage(message) {
    console.error(`${message}\nusage: node server.mjs [--http PORT] [--poll-interval MS]`);
    process.exit(2);
}

const args = process.argv.slice(2);
for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => process.exit(0));
}
const pollAt = args.indexOf('--poll-interval');
if (pollAt !== -1) {
    const value = args[pollAt + 1];
    if (!/^\d+$/.test(value ?? '') || Number(value) < 1) {
        usage(`--poll-interval needs a number of milliseconds, 1 or more, not ${value}`);
    }
    POLL_INTERVAL_MS = Number(value);
    args.splice(pollAt, 2);
}
if (args.length === 0) {
    await serveStdio();
} else if (args[0] === '--http' && args.length === 2 && /^\d+$/.test(args[1]) && Number(args[1]) <= 65535) {
    await serveHttp(Number(args[1]));
} else {
    usage(`bad arguments: ${args.join(' ')}`);
}
