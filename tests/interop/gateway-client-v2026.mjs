// The official MCP TypeScript client 2.x with the tasks extension (@modelcontextprotocol/client
// 2.4.0 + @modelcontextprotocol/ext-tasks 0.2.2) as a 2026-07-28 requester against
// `mcp-tasks gateway` in front of @modelcontextprotocol/server-everything, a server that speaks
// only 2025-11-25 and has no task for these tools. Requirement IDs are those of
// ../shared/spec/REQUIREMENTS.md, part G.
//
//   node gateway-client-v2026.mjs --url http://127.0.0.1:PORT/mcp    Streamable HTTP
//   node gateway-client-v2026.mjs -- CMD ARGS...                     stdio: spawns CMD ARGS...
//
// It declares the tasks extension and elicitation, and answers every form that asks for a name
// with "Ada". Steps: server/discover (the gateway answers in 2026-07-28 for an upstream that does
// not: G-1), tools/list (G-1), echo answered at once, trigger-long-running-operation slower than
// the gateway's threshold so the gateway makes it a task, followed to its inlined result (G-2),
// trigger-elicitation-request whose upstream elicitation/create reaches the requester as an
// inputRequest of the task, answered with tasks/update, the answer reaching the upstream tool
// (G-3), and prompts/get passed through (G-1).
//
// Prints one JSON object summarising every step on stdout and exits 0, or prints what mismatched
// on stderr and exits 1 (2 for bad usage).
import { resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';

import { connectTasks, PROTOCOL_VERSION, TASKS } from './ext-tasks-session.mjs';

/** The whole run may take this long. */
const OVERALL_TIMEOUT_MS = 90_000;
const NAME = 'Ada';

const summary = { ok: false, transport: null, steps: {} };
const wire = [];

class Mismatch extends Error {}

function check(condition, message, detail) {
    if (!condition) {
        throw new Mismatch(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
    }
}

function usage(message) {
    console.error(`${message}\nusage: node gateway-client-v2026.mjs --url URL | node gateway-client-v2026.mjs -- CMD ARGS...`);
    process.exit(2);
}

function texts(result) {
    return (result?.content ?? []).filter(block => block.type === 'text').map(block => block.text);
}

/** Every input request the gateway passed on, as the requester saw it. */
const asked = [];

async function onInputRequest(request, context) {
    const fields = Object.keys(request.params?.requestedSchema?.properties ?? {});
    asked.push({ kind: request.kind, delivery: context.delivery, taskId: context.taskId ?? null, message: request.params?.message, hasName: fields.includes('name') });
    if (request.kind === 'elicitation' && fields.includes('name')) {
        return { action: 'accept', content: { name: NAME } };
    }
    return { action: 'decline' };
}

/** Runs a tool call to its outcome, recording the task statuses the requester observed. */
async function settle(exec) {
    const statuses = [];
    const { outcome } = await exec.settle({
        onEvent: event => {
            if (event.type === 'task' && statuses[statuses.length - 1] !== event.task.status) {
                statuses.push(event.task.status);
            }
        }
    });
    return { outcome, statuses };
}

async function run(target) {
    summary.transport = target.url ? 'http' : 'stdio';
    const { client, session } = await connectTasks(target, { onInputRequest, capabilities: { elicitation: {} }, wire });
    const steps = summary.steps;
    try {
        const caps = client.getServerCapabilities();
        check(client.getProtocolEra() === 'modern', 'server/discover made the connection 2026-07-28', client.getProtocolEra());
        check(client.getNegotiatedProtocolVersion() === PROTOCOL_VERSION, 'negotiated version', client.getNegotiatedProtocolVersion());
        steps.discover = {
            era: client.getProtocolEra(),
            version: client.getNegotiatedProtocolVersion(),
            server: client.getServerVersion() ?? null,
            tasksExtension: caps?.extensions?.[TASKS] ?? null,
            capabilities: Object.keys(caps ?? {}).sort()
        };

        const { tools } = await client.listTools();
        steps.tools = tools.map(tool => tool.name).sort();

        const echo = await session.callTool('echo', { message: 'hi' });
        const echoed = resultFromTaskOutcome((await settle(echo)).outcome);
        steps.echo = { kind: echo.kind, text: texts(echoed)[0] };

        // G-2: slower than the gateway's threshold for an optional tool, so the gateway makes it
        // a task of its own; the upstream sees an ordinary tools/call.
        const slow = await session.callTool('trigger-long-running-operation', { duration: 3, steps: 3 });
        check(slow.kind === 'task', 'a 3 s trigger-long-running-operation becomes a task', slow.kind);
        const slowRun = await settle(slow);
        steps.long_task = {
            kind: slow.kind,
            taskId: slow.handle.taskId,
            status: slowRun.outcome.status,
            statuses: slowRun.statuses,
            text: slowRun.outcome.status === 'completed' ? texts(resultFromTaskOutcome(slowRun.outcome))[0] : null
        };

        // G-3: the upstream's elicitation/create becomes an inputRequest of the task, answered
        // with tasks/update.
        const before = asked.length;
        const ask = await session.callTool('trigger-elicitation-request', {});
        check(ask.kind === 'task', 'a call that asks a question becomes a task', ask.kind);
        const askRun = await settle(ask);
        check(askRun.outcome.status === 'completed', 'trigger-elicitation-request completes once answered', askRun.outcome);
        const answered = resultFromTaskOutcome(askRun.outcome);
        const updates = wire.filter(({ dir, message }) => dir === 'out' && message.method === 'tasks/update' && message.params?.taskId === ask.handle.taskId);
        steps.elicitation_task = {
            kind: ask.kind,
            taskId: ask.handle.taskId,
            statuses: askRun.statuses,
            questions: asked.slice(before),
            tasksUpdates: updates.length,
            texts: texts(answered)
        };

        const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris' } });
        steps.prompt = { messages: prompt.messages };
    } finally {
        await session.close();
        await client.close();
    }
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
