// Connects the official MCP TypeScript client 2.x (@modelcontextprotocol/client) at protocol
// 2026-07-28 and opens a tasks-extension session on it (@modelcontextprotocol/ext-tasks), the
// requester the MCP Inspector uses.
//
// At 2026-07-28 ext-tasks needs the host to send its tools/call and tasks/* requests raw (the SDK
// client refuses `resultType: "task"` and strips `resultType`), through a `rawDispatch` the
// package does not ship. RawTapTransport is that dispatch: it wraps the SDK transport, sends raw
// requests on the same channel under its own ids and takes their responses before the SDK sees
// them. On HTTP the SDK transport still derives MCP-Protocol-Version, Mcp-Method and Mcp-Name
// from the body's `_meta`, so raw requests carry the same headers as the SDK's own.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { createTaskSessionFromClient, DispatchError } from '@modelcontextprotocol/ext-tasks/client';

export const PROTOCOL_VERSION = '2026-07-28';
export const TASKS = 'io.modelcontextprotocol/tasks';

class RawTapTransport {
    #inner;
    #pending = new Map();
    #next = 0;

    constructor(inner, wire) {
        this.#inner = inner;
        this.wire = wire;
        inner.onmessage = (message, extra) => {
            wire.push({ dir: 'in', message });
            const waiter = message && !('method' in message) && 'id' in message ? this.#pending.get(message.id) : undefined;
            if (waiter) {
                this.#pending.delete(message.id);
                waiter(message);
            } else {
                this.onmessage?.(message, extra);
            }
        };
        inner.onerror = error => this.onerror?.(error);
        inner.onclose = () => this.onclose?.();
    }

    start() { return this.#inner.start(); }
    send(message, options) {
        this.wire.push({ dir: 'out', message });
        return this.#inner.send(message, options);
    }
    close() { return this.#inner.close(); }
    get sessionId() { return this.#inner.sessionId; }
    get protocolVersion() { return this.#inner.protocolVersion; }
    get hasPerRequestStream() { return this.#inner.hasPerRequestStream; }
    setProtocolVersion(version) { this.#inner.setProtocolVersion?.(version); }

    // ext-tasks' RawClientDispatch: (request, {signal, context: {headers, requestTimeoutMs}}) ->
    // {kind: "result", result} | {kind: "error", error}; transport failures are DispatchErrors.
    dispatch = async (request, options = {}) => {
        const id = `ext-tasks-${++this.#next}`;
        const reply = new Promise(resolve => this.#pending.set(id, resolve));
        const timeoutMs = options.context?.requestTimeoutMs ?? 30_000;
        let timer;
        try {
            await this.send({ jsonrpc: '2.0', id, ...request }, { headers: options.context?.headers, requestSignal: options.signal });
            const message = await Promise.race([
                reply,
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new DispatchError(`no answer to ${request.method} within ${timeoutMs} ms`, true)), timeoutMs);
                    options.signal?.addEventListener('abort', () => reject(options.signal.reason), { once: true });
                })
            ]);
            return message.error ? { kind: 'error', error: message.error } : { kind: 'result', result: message.result };
        } catch (error) {
            if (error instanceof DispatchError || options.signal?.aborted) {
                throw error;
            }
            // An HTTP status the SDK transport does not read as JSON-RPC, for instance.
            throw new DispatchError(`${request.method} failed: ${error?.message ?? error}`, false, { cause: error });
        } finally {
            clearTimeout(timer);
            this.#pending.delete(id);
        }
    };
}

// target: {url} (Streamable HTTP) or {command: [CMD, ARGS...]} (stdio, spawned). `wire` collects
// every message in both directions, for error reports.
export async function connectTasks(target, { onInputRequest, capabilities = {}, wire = [] } = {}) {
    const clientInfo = { name: 'mcp-tasks-interop-v2026', version: '0.0.0' };
    const declared = { ...capabilities, extensions: { [TASKS]: {} } };
    const client = new Client(clientInfo, {
        capabilities: declared,
        versionNegotiation: { mode: { pin: PROTOCOL_VERSION } }
    });
    const inner = target.url
        ? new StreamableHTTPClientTransport(new URL(target.url))
        : new StdioClientTransport({ command: target.command[0], args: target.command.slice(1), stderr: 'inherit' });
    const transport = new RawTapTransport(inner, wire);
    await client.connect(transport);
    const session = createTaskSessionFromClient(client, {
        endpointId: target.url ?? target.command.join(' '),
        rawDispatch: transport.dispatch,
        v2RequestFraming: { protocolVersion: PROTOCOL_VERSION, clientInfo, clientCapabilities: declared },
        onInputRequest,
        onError: error => console.error(`[ext-tasks] ${error.message}`)
    });
    return { client, session, transport };
}
