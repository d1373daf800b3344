// The official MCP TypeScript client 2.x with the tasks extension (@modelcontextprotocol/client
// 2.4.0 + @modelcontextprotocol/ext-tasks 0.2.2) as a 2026-07-28 requester against
// `mcp-tasks serve` and its demo tools, checking what it gets. Requirement IDs are those of
// ../shared/spec/REQUIREMENTS.md.
//
//   node client-v2026.mjs --url http://127.0.0.1:PORT/mcp    Streamable HTTP
//   node client-v2026.mjs -- CMD ARGS...                     stdio: spawns CMD ARGS...
//
// It declares the tasks extension (exactly `{}`) and elicitation on every request, and answers
// each elicitation from the form it shows: a name is "Ada", an approval is refused. Steps:
// server/discover (B-1, X-1), tools/list with cache hints (B-4), echo answered at once,
// slow_echo turned into a task by the server and polled with tasks/get until its inlined result
// ask_name waiting in input_required until its question is answered with
// tasks/update, approve refused: a tool error is a completed task whose result has
// isError, a long slow_echo cancelled with tasks/cancel and read back cancelled, then
// cancelled again.
//
// Prints one JSON object summarising every step on stdout and exits 0, or prints what mismatched
// on stderr and exits 1 (2 for bad usage).
import { resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';

import { connectTasks, PROTOCOL_VERSION, TASKS } from './ext-tasks-session.mjs';

/** The whole run may take this long. */
const OVERALL_TIMEOUT_MS = 90_000;
/** How long a cancelled task may take to read back as cancelled. */
const CANCEL_SETTLE_MS = 10_000;
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
    console.error(`${message}\nusage: node client-v2026.mjs --url URL | node client-v2026.mjs -- CMD ARGS...`);
    process.exit(2);
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function firstText(result) {
    return result?.content?.find(block => block.type === 'text')?.text;
}

/** Every elicitation the server asked, as the requester saw it. */
const asked = [];

// Answers from the form: the requester never sees which tool asks.
async function onInputRequest(request, context) {
    asked.push({ kind: request.kind, delivery: context.delivery, scope: context.scope, taskId: context.taskId, inputId: context.inputId });
    check(request.kind === 'elicitation', 'only elicitation is asked of this client', request);
    const fields = Object.keys(request.params?.requestedSchema?.properties ?? {});
    if (fields.includes('name')) {
        return { action: 'accept', content: { name: NAME } };
    }
    if (fields.includes('approve')) {
        return { action: 'accept', content: { approve: false } };
    }
    return { action: 'decline' };
}

/** Runs a tool call to its outcome, recording the task statuses the requester observed. */
async function settle(exec) {
    const statuses = [];
    const { outcome } = await exec.settle({
        onEvent: event => {
            if (event.type === 'task') {
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
        // B-1, X-1: the probe answered as a 2026-07-28 server with the extension exactly `{}`
        // (anything else would leave ext-tasks without tasks), and no v1 `capabilities.tasks`.
        const caps = client.getServerCapabilities();
        check(client.getProtocolEra() === 'modern', 'server/discover made the connection 2026-07-28', client.getProtocolEra());
        check(client.getNegotiatedProtocolVersion() === PROTOCOL_VERSION, 'negotiated version', client.getNegotiatedProtocolVersion());
        check(JSON.stringify(caps?.extensions?.[TASKS]) === '{}', 'the tasks extension is declared as exactly {}', caps);
        check(caps?.tasks === undefined, 'no v1 capabilities.tasks at 2026-07-28', caps);
        check(wire[0]?.message?.method === 'server/discover', 'the first request is server/discover', wire[0]);
        steps.discover = { era: client.getProtocolEra(), version: client.getNegotiatedProtocolVersion(), capabilities: caps };

        // tools/list: the SDK rejects a list without ttlMs/cacheScope (B-4 and the cache hints).
        const { tools } = await client.listTools();
        const names = tools.map(tool => tool.name);
        for (const name of ['echo', 'slow_echo', 'ask_name', 'approve']) {
            check(names.includes(name), `tools/list shows ${name}`, names);
        }
        steps.tools = names;

        // a tool that cannot be a task answers at once.
        const echo = await session.callTool('echo', { text: 'hi' });
        check(echo.kind === 'immediate', 'echo is answered at once', echo.kind);
        const echoed = resultFromTaskOutcome((await settle(echo)).outcome);
        check(firstText(echoed) === 'hi', 'echo says the text back', echoed);
        steps.plain_call = { kind: echo.kind, text: firstText(echoed) };

        // slower than the server's threshold, so the server makes it a task,
        // which tasks/get shows working and then completed with the result inlined.
        const slow = await session.callTool('slow_echo', { text: 'slow hi', delay_ms: 2500 });
        check(slow.kind === 'task', 'a slow slow_echo becomes a task', slow.kind);
        const slowRun = await settle(slow);
        check(slowRun.outcome.status === 'completed', 'slow_echo completes', slowRun.outcome);
        check(slowRun.statuses.includes('working'), 'tasks/get showed the task working first', slowRun.statuses);
        const slowResult = resultFromTaskOutcome(slowRun.outcome);
        check(firstText(slowResult) === 'slow hi', 'the inlined result is the tool result', slowResult);
        steps.slow_echo_task = { taskId: slow.handle.taskId, statuses: slowRun.statuses, text: firstText(slowResult) };

        // the task waits in input_required with the question in inputRequests; the
        // requester answers it with tasks/update and the task completes with the answer.
        const before = asked.length;
        const ask = await session.callTool('ask_name', {});
        check(ask.kind === 'task', 'ask_name runs as a task', ask.kind);
        const askRun = await settle(ask);
        check(askRun.outcome.status === 'completed', 'ask_name completes once answered', askRun.outcome);
        const question = asked.slice(before);
        check(question.length === 1 && question[0].delivery === 'task-update' && question[0].taskId === ask.handle.taskId,
            'the question came from the task and was answered with tasks/update', question);
        check(askRun.statuses.includes('input_required'), 'tasks/get showed input_required', askRun.statuses);
        const greeting = resultFromTaskOutcome(askRun.outcome);
        check(firstText(greeting) === `Hello, ${NAME}!`, 'the answer reached the tool', greeting);
        check(wire.some(({ dir, message }) => dir === 'out' && message.method === 'tasks/update' && message.params?.taskId === ask.handle.taskId),
            'the answer went out as tasks/update');
        steps.ask_name_task = { taskId: ask.handle.taskId, statuses: askRun.statuses, question: question[0], text: firstText(greeting) };

        // the tool ran and reported an error: completed, with isError in the result.
        const approve = await session.callTool('approve', { action: 'deploy' });
        const approveRun = await settle(approve);
        check(approveRun.outcome.status === 'completed', 'a tool error completes the task', approveRun.outcome);
        const refused = resultFromTaskOutcome(approveRun.outcome);
        check(refused.isError === true, 'the result carries isError', refused);
        steps.tool_error_task = { kind: approve.kind, taskId: approve.handle?.taskId ?? null, statuses: approveRun.statuses, text: firstText(refused) };

        // tasks/cancel is acked; the task then reads back cancelled, and a second cancel of
        // the ended task is acked as well.
        const long = await session.callTool('slow_echo', { text: 'never', delay_ms: 60_000 }, { task: { preference: 'require' } });
        check(long.kind === 'task', 'a 60 s slow_echo becomes a task', long.kind);
        await long.cancel();
        const longRun = await settle(long);
        check(longRun.outcome.status === 'cancelled', 'the requester sees the task cancelled', longRun.outcome);
        const controller = session.task(long.handle.taskId);
        let snapshot = await controller.snapshot();
        const deadline = Date.now() + CANCEL_SETTLE_MS;
        while (snapshot.status !== 'cancelled' && Date.now() < deadline) {
            await sleep(100);
            snapshot = await controller.snapshot();
        }
        check(snapshot.status === 'cancelled', 'tasks/get reads the task back cancelled', snapshot.raw);
        await session.cancelTask(long.handle.taskId);
        steps.cancel = { taskId: long.handle.taskId, status: snapshot.status, cancelAgain: 'acked' };
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
