// serve.mjs -- a minimal OpenAI-compatible /v1/chat/completions server over node-llama-cpp, for
// the LLM end-to-end test. It runs a real llama.cpp (node-llama-cpp's prebuilt CPU binary) on
// the GGUF model it is given and constrains every answer with the JSON schema of the request.
//
// usage: [THREADS=N] node serve.mjs MODEL.gguf PORTFILE NODE_LLAMA_CPP_DIR [REQUESTLOG]
//
// It listens on 127.0.0.1 on a free port and writes the port to PORTFILE once the model is
// loaded. Like llama.cpp's own server it reads the schema only in the nested OpenAI form,
// response_format.json_schema.schema; a request without it is refused with 400, so the test
// fails if the client sends anything else. Requests are served one at a time. Each request body
// is appended to REQUESTLOG as a JSON line when given.
import { appendFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modelPath, portFile, nlcDir, requestLog] = process.argv.slice(2);
const { getLlama, LlamaCompletion } = await import(
    pathToFileURL(join(nlcDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

// CPU only, the prebuilt binary only (never build or download), and an explicit thread count
// (THREADS, default 2): without it llama.cpp sizes its pool from the machine.
const threads = Number(process.env.THREADS ?? 2);
const llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    maxThreads: threads,
    progressLogs: false,
    logLevel: "error",
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const contextSize = 16384; // the spec schema alone is ~8k one-character tokens
const context = await model.createContext({ contextSize, threads, sequences: 1 });
const sequence = context.getSequence();

function send(res, status, obj) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
}

async function complete(req) {
    const schema = req?.response_format?.json_schema?.schema;
    if (req?.response_format?.type !== "json_schema" || typeof schema !== "object" || schema === null)
        return [400, { error: { message: "response_format.json_schema.schema is required" } }];
    if (!Array.isArray(req.messages) || req.messages.length === 0)
        return [400, { error: { message: "messages must be a non-empty array" } }];
    // No chat template: the tiny model has none, and a random-weight model does not care.
    const prompt = req.messages.map((m) => `${m.role}: ${m.content}\n`).join("") + "assistant: ";
    const maxTokens = Number.isInteger(req.max_tokens) ? req.max_tokens : 512;
    const promptTokens = model.tokenize(prompt).length;
    if (promptTokens + maxTokens > contextSize)
        return [400, { error: { message: `prompt of ${promptTokens} tokens + max_tokens ${maxTokens} exceeds the context (${contextSize})` } }];
    const grammar = await llama.createGrammarForJsonSchema(schema);
    await sequence.clearHistory();
    const completion = new LlamaCompletion({ contextSequence: sequence });
    const t0 = Date.now();
    const { response, metadata } = await completion.generateCompletionWithMeta(prompt, {
        grammar,
        maxTokens,
        temperature: typeof req.temperature === "number" ? req.temperature : 0.7,
        seed: Number.isInteger(req.seed) ? req.seed : undefined,
    });
    completion.dispose({ disposeSequence: false });
    const completionTokens = model.tokenize(response).length;
    return [200, {
        id: `chatcmpl-${t0}`,
        object: "chat.completion",
        created: Math.floor(t0 / 1000),
        model: req.model ?? "tiny",
        choices: [{
            index: 0,
            message: { role: "assistant", content: response },
            finish_reason: metadata.stopReason === "maxTokens" ? "length" : "stop",
        }],
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens,
            total_tokens: promptTokens + completionTokens },
    }];
}

let queue = Promise.resolve();
const server = createServer((req, res) => {
    if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
        send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
        return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        queue = queue.then(async () => {
            let body;
            try {
                body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch (e) {
                send(res, 400, { error: { message: `request is not JSON: ${e.message}` } });
                return;
            }
            if (requestLog)
                appendFileSync(requestLog, JSON.stringify(body) + "\n");
            try {
                const [status, obj] = await complete(body);
                send(res, status, obj);
            } catch (e) {
                send(res, 500, { error: { message: String(e?.message ?? e) } });
            }
        });
    });
});
server.listen(0, "127.0.0.1", () => {
    writeFileSync(portFile + ".tmp", String(server.address().port));
    renameSync(portFile + ".tmp", portFile);
});
