// The official TypeScript SDK 1.x client (@modelcontextprotocol/sdk, its experimental tasks API,
// MCP 2025-11-25) against `mcp-tasks gateway` in front of @modelcontextprotocol/server-everything,
// a server that has no task of its own for these tools. Requirement IDs are those of
// ../shared/spec/REQUIREMENTS.md, part G.
//
//   node gateway-client.mjs --url http://127.0.0.1:PORT/mcp    Streamable HTTP
//   node gateway-client.mjs -- CMD ARGS...                     stdio: spawns CMD ARGS...
//
// It declares elicitation (form) and answers every elicitation with {name: "Ada"}. Steps:
// initialize (the upstream's server info and capabilities plus tasks: G-1), tools/list with the
// gateway's taskSupport (G-1, G-2), echo called plainly, trigger-long-running-operation as a task
// polled with tasks/get until completed and read with tasks/result (G-2), resources/list,
// prompts/get and completion/complete answered as server-everything answers them (G-1), and
// trigger-elicitation-request as a task through the SDK's callToolStream: the upstream's
// elicitation/create arrives while tasks/result is open, with related-task _meta, and the answer
// reaches the upstream tool (G-3).
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
    RELATED_TASK_META_KEY
} from '@modelcontextprotocol/sdk/types.js';

/** The whole run may take this long. */
const OVERALL_TIMEOUT_MS = 90_000;
/** Per request; tasks/result may block while a task runs. */
const REQUEST_TIMEOUT_MS = 30_000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const NAME = 'Ada';

const summary = { ok: false, transport: null, steps: {} };
const wire = [];
/** Outgoing tasks/result requests not answered yet: JSON-RPC id -> taskId. */
const openResults = new Map();

class Mismatch extends Error {}

function check(condition, message, detail) {
    if (!condition) {
        throw new Mismatch(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
    }
}

function usage(message) {
    console.error(`${message}\nusage: node gateway-client.mjs --url URL | node gateway-client.mjs -- CMD ARGS...`);
    process.exit(2);
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

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

function texts(result) {
    return (result?.content ?? []).filter(block => block.type === 'text').map(block => block.text);
}

function relatedTaskId(meta) {
    return meta?.[RELATED_TASK_META_KEY]?.taskId;
}

/** Polls tasks/get no faster than pollInterval until the task is terminal. */
async function pollUntilTerminal(client, taskId, what) {
    const statuses = [];
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (;;) {
        const task = await client.experimental.tasks.getTask(taskId, { timeout: REQUEST_TIMEOUT_MS });
        check(task.taskId === taskId, `tasks/get of ${what} answered for another task`, task);
        if (statuses[statuses.length - 1] !== task.status) statuses.push(task.status);
        if (TERMINAL.has(task.status)) return { task, statuses };
        check(Date.now() < deadline, `${what} did not finish within ${REQUEST_TIMEOUT_MS} ms; statuses`, statuses);
        await sleep(task.pollInterval ?? 500);
    }
}

async function run(target) {
    const elicitations = [];
    const client = new Client(
        { name: 'mcp-tasks-gateway-interop-ts-client', version: '0.0.0' },
        { capabilities: { elicitation: { form: {} } }, enforceStrictCapabilities: true }
    );
    client.setRequestHandler(ElicitRequestSchema, async request => {
        const taskId = relatedTaskId(request.params._meta);
        elicitations.push({
            relatedTask: taskId ?? null,
            message: request.params.message,
            required: request.params.requestedSchema?.required ?? [],
            onTasksResultExchange: taskId !== undefined && [...openResults.values()].includes(taskId)
        });
        const answer = { action: 'accept', content: { name: NAME } };
        return taskId ? { ...answer, _meta: { [RELATED_TASK_META_KEY]: { taskId } } } : answer;
    });

    let transport;
    if (target.url) {
        summary.transport = 'http';
        transport = new StreamableHTTPClientTransport(new URL(target.url));
    } else {
        summary.transport = 'stdio';
        const env = getDefaultEnvironment();
        if (process.env.RUST_LOG) env.RUST_LOG = process.env.RUST_LOG;
        transport = new StdioClientTransport({ command: target.command[0], args: target.command.slice(1), env, stderr: 'inherit' });
    }
    tapTransport(transport);
    await client.connect(transport);
    const steps = summary.steps;

    // G-1: the upstream's identity and capabilities, plus tasks for tools/call.
    const caps = client.getServerCapabilities();
    check(caps?.tasks?.requests?.tools?.call, 'the gateway declares capabilities.tasks.requests.tools.call', caps);
    for (const capability of ['tools', 'resources', 'prompts', 'completions']) {
        check(caps[capability] !== undefined, `G-1: the upstream's ${capability} capability passes through`, caps);
    }
    const initialized = wire.find(({ dir, message }) => dir === 'in' && message.result?.protocolVersion);
    steps.initialize = {
        server: client.getServerVersion(),
        protocolVersion: initialized?.message.result.protocolVersion ?? null,
        capabilities: Object.keys(caps).sort(),
        instructions: typeof client.getInstructions() === 'string' && client.getInstructions().length > 0
    };

    // G-1, G-2: the upstream's tools, with the gateway's taskSupport.
    const { tools } = await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
    steps.tools = Object.fromEntries(tools.map(t => [t.name, t.execution?.taskSupport ?? 'forbidden']));
    for (const name of ['echo', 'trigger-long-running-operation', 'trigger-elicitation-request']) {
        check(name in steps.tools, `tools/list shows ${name}`, steps.tools);
    }

    const echo = await client.callTool({ name: 'echo', arguments: { message: 'hi' } }, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS });
    check(texts(echo)[0] === 'Echo: hi' && !echo.isError, 'echo says the message back', echo);
    steps.echo = { text: texts(echo)[0] };

    // G-2: the slow upstream tool as a task of the gateway.
    const created = await client.request(
        { method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 2 } } },
        CreateTaskResultSchema,
        { task: { ttl: 60_000 }, timeout: REQUEST_TIMEOUT_MS }
    );
    check(created.task?.status === 'working', 'a new task starts working', created);
    const polled = await pollUntilTerminal(client, created.task.taskId, 'trigger-long-running-operation');
    check(polled.task.status === 'completed', 'trigger-long-running-operation completes', polled);
    const longResult = await client.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema, { timeout: REQUEST_TIMEOUT_MS });
    check(relatedTaskId(longResult._meta) === created.task.taskId, 'tasks/result carries related-task _meta', longResult._meta);
    steps.long_task = { taskId: created.task.taskId, statuses: polled.statuses, text: texts(longResult)[0] };

    // G-1: resources, prompts and completion, as the upstream answers them.
    const { resources } = await client.listResources(undefined, { timeout: REQUEST_TIMEOUT_MS });
    const { resourceTemplates } = await client.listResourceTemplates(undefined, { timeout: REQUEST_TIMEOUT_MS });
    const read = await client.readResource({ uri: 'demo://resource/dynamic/text/3' }, { timeout: REQUEST_TIMEOUT_MS });
    steps.resources = {
        uris: resources.map(r => r.uri).sort(),
        templates: resourceTemplates.map(t => t.uriTemplate).sort(),
        read: read.contents.map(c => ({ uri: c.uri, mimeType: c.mimeType, prefix: c.text?.split(':')[0] }))
    };
    const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris' } }, { timeout: REQUEST_TIMEOUT_MS });
    steps.prompt = { messages: prompt.messages };
    const completed = await client.complete(
        { ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } },
        { timeout: REQUEST_TIMEOUT_MS }
    );
    const inContext = await client.complete(
        {
            ref: { type: 'ref/prompt', name: 'completable-prompt' },
            argument: { name: 'name', value: '' },
            context: { arguments: { department: 'Sales' } }
        },
        { timeout: REQUEST_TIMEOUT_MS }
    );
    steps.completion = { department: completed.completion.values, name: inContext.completion.values };

    // G-3: the upstream's elicitation, asked during a task, answered over tasks/result.
    const stream = [];
    let askTask;
    let askResult;
    for await (const message of client.experimental.tasks.callToolStream(
        { name: 'trigger-elicitation-request', arguments: {} },
        CallToolResultSchema,
        { task: { ttl: 60_000 }, timeout: REQUEST_TIMEOUT_MS }
    )) {
        stream.push(message.type === 'taskStatus' ? `taskStatus:${message.task.status}` : message.type);
        if (message.type === 'taskCreated') askTask = message.task;
        if (message.type === 'result') askResult = message.result;
        if (message.type === 'error') throw new Mismatch(`trigger-elicitation-request: callToolStream ended with an error: ${message.error}`);
    }
    check(askTask, 'trigger-elicitation-request: callToolStream yielded no taskCreated', stream);
    check(askResult, 'trigger-elicitation-request: callToolStream yielded no result', stream);
    const asked = elicitations.filter(e => e.relatedTask === askTask.taskId);
    check(asked.length === 1, "exactly one elicitation/create naming the task in related-task _meta", elicitations);
    const askFinal = await client.experimental.tasks.getTask(askTask.taskId, { timeout: REQUEST_TIMEOUT_MS });
    steps.elicitation_task = {
        taskId: askTask.taskId,
        stream,
        elicitation: asked[0],
        texts: texts(askResult),
        relatedTask: relatedTaskId(askResult._meta) ?? null,
        status: askFinal.status
    };

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
    console.error(`gateway interop client: gave up after ${OVERALL_TIMEOUT_MS} ms\nsteps so far: ${JSON.stringify(summary)}`);
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
    console.error(`gateway interop client ${what}: ${error?.stack ?? error}`);
    console.error(`steps so far: ${JSON.stringify(summary)}`);
    const tail = wire.slice(-12).map(({ dir, message }) => `${dir === 'out' ? '->' : '<-'} ${JSON.stringify(message)}`);
    console.error(`last messages on the wire:\n${tail.join('\n')}`);
    process.exit(1);
}
