// Drives onnxlm through the npm `openai` client, as a Node app would. Run by tests/OnnxLm.Tests/Conformance/NodeClientTests.cs:
//   node conformance.mjs <baseUrl ending in /v1> <scenario>
// Exits 0 when every check of the scenario held, 1 with the failed check on stderr otherwise. The last stdout line is
// `RESULT <json>` with what the C# side checks on the server (attempt counts, outcomes).
import OpenAI from 'openai';

const [baseURL, scenario] = process.argv.slice(2);
if (!baseURL || !scenario) {
  console.error('usage: node conformance.mjs <baseUrl> <basic|abort-signal|abort-break|rate-limit|reasoning|tools>');
  process.exit(2);
}

let checks = 0;
function check(condition, what, detail) {
  checks++;
  if (!condition) throw new Error(`check failed: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
}

// Every HTTP attempt the client makes (retries included), seen through the fetch it is given.
const attempts = [];
const countingFetch = async (url, init) => {
  const started = Date.now();
  const response = await fetch(url, init);
  attempts.push({ status: response.status, started, retryAfter: response.headers.get('retry-after') });
  return response;
};

function client(options = {}) {
  return new OpenAI({ apiKey: 'sk-onnxlm-test', baseURL, maxRetries: 0, timeout: 60_000, fetch: countingFetch, ...options });
}

async function expectError(promise, type, status, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof type, `${what} raises ${type.name}`, e?.constructor?.name);
    check(e.status === status, `${what} has status ${status}`, e.status);
    return e;
  }
  check(false, `${what} raises`);
}

async function basic() {
  const c = client();
  const models = await c.models.list();
  const model = models.data[0]?.id;
  check(models.data.length === 1 && typeof model === 'string', 'models.list gives the served model', models.data);
  check(models.data[0].object === 'model' && typeof models.data[0].created === 'number', 'model entry shape', models.data[0]);

  // ignore_eos is not in the client's types; the client sends body fields through as given.
  const request = { model, messages: [{ role: 'user', content: 'Rivers: name three.' }], max_tokens: 12, temperature: 0, ignore_eos: true };
  const whole = await c.chat.completions.create(request);
  check(whole.object === 'chat.completion', 'object is chat.completion', whole.object);
  check(whole.choices.length === 1 && whole.choices[0].message.role === 'assistant', 'one assistant choice', whole.choices);
  check(typeof whole.choices[0].message.content === 'string' && whole.choices[0].message.content.length > 0, 'content is text');
  check(whole.choices[0].finish_reason === 'length', 'finish_reason length at max_tokens', whole.choices[0].finish_reason);
  const u = whole.usage;
  check(u.completion_tokens === 12 && u.prompt_tokens > 0 && u.total_tokens === u.prompt_tokens + 12, 'usage adds up', u);
  check(u.prompt_tokens_details?.cached_tokens >= 0, 'usage has prompt_tokens_details.cached_tokens', u);

  // Streaming with include_usage: the usage chunk is last, with no choices; every other chunk has usage null.
  const stream = await c.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  check(chunks.length >= 3, 'several chunks', chunks.length);
  check(chunks.every((k) => k.object === 'chat.completion.chunk'), 'every chunk is a chat.completion.chunk');
  check(new Set(chunks.map((k) => k.id)).size === 1 && new Set(chunks.map((k) => k.created)).size === 1, 'stable id and created');
  check(chunks[0].choices[0].delta.role === 'assistant', 'first delta carries the role', chunks[0]);
  const last = chunks[chunks.length - 1];
  check(Array.isArray(last.choices) && last.choices.length === 0 && last.usage, 'usage chunk last with choices []', last);
  check(last.usage.completion_tokens === 12 && last.usage.prompt_tokens === u.prompt_tokens, 'stream usage equals non-stream usage', last.usage);
  const body = chunks.slice(0, -1);
  check(body.every((k) => k.usage === null), 'other chunks carry usage: null');
  const finishes = body.map((k) => k.choices[0].finish_reason);
  check(finishes.slice(0, -1).every((f) => f === null) && finishes[finishes.length - 1] === 'length', 'finish_reason null until the last choice chunk', finishes);
  const text = body.map((k) => k.choices[0].delta.content ?? '').join('');
  check(text === whole.choices[0].message.content, 'streamed text equals the non-stream text', { text, whole: whole.choices[0].message.content });

  // The client's stream helper accumulates the same message.
  const runner = c.chat.completions.stream({ ...request, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  check(final.choices[0].message.content === text, 'stream helper final message equals the text', final.choices[0].message.content);

  // Legacy text completions, plain and streamed.
  const completion = await c.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, ignore_eos: true });
  check(completion.object === 'text_completion' && completion.choices[0].finish_reason === 'length', 'text completion shape', completion);
  check(completion.usage.completion_tokens === 6, 'text completion usage', completion.usage);
  const textStream = await c.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, ignore_eos: true, stream: true });
  let streamedText = '';
  for await (const chunk of textStream) streamedText += chunk.choices[0]?.text ?? '';
  check(streamedText === completion.choices[0].text, 'streamed text completion equals the plain one', { streamedText, plain: completion.choices[0].text });

  // Errors map to the client's error classes, with the server's param and code.
  const bad = await expectError(c.chat.completions.create({ ...request, temperature: 9 }), OpenAI.BadRequestError, 400, 'temperature 9');
  check(bad.param === 'temperature' && bad.type === 'invalid_request_error', '400 names the param', bad.error);
  const missing = await expectError(c.chat.completions.create({ ...request, model: 'gpt-17' }), OpenAI.NotFoundError, 404, 'unknown model');
  check(missing.code === 'model_not_found', '404 code model_not_found', missing.error);
  const tooMany = await expectError(c.chat.completions.create({ ...request, stream: true, n: 1000 }), OpenAI.BadRequestError, 400, 'stream with n=1000');
  check(tooMany.param === 'n', 'n over the batch size is refused naming n', tooMany.error);

  // n=2 streams both choices in one stream, told apart by index, each ending with its own finish_reason.
  const multi = await c.chat.completions.create({ ...request, max_tokens: 4, stream: true, n: 2 });
  const choices = new Map();
  for await (const chunk of multi) {
    for (const choice of chunk.choices) {
      const seen = choices.get(choice.index) ?? { text: '', finishes: [] };
      seen.text += choice.delta?.content ?? '';
      if (choice.finish_reason) seen.finishes.push(choice.finish_reason);
      choices.set(choice.index, seen);
    }
  }
  check([...choices.keys()].sort().join(',') === '0,1', 'n=2 stream carries choices 0 and 1', [...choices.keys()]);
  for (const [index, seen] of choices) {
    check(seen.finishes.length === 1 && seen.finishes[0] === 'length', `choice ${index} finishes once, with length`, seen.finishes);
    check(seen.text.length > 0, `choice ${index} has text`, seen);
  }
  // The client's stream helper assembles one message per choice.
  const multiFinal = await c.chat.completions.stream({ ...request, max_tokens: 4, n: 2 }).finalChatCompletion();
  check(multiFinal.choices.length === 2 && multiFinal.choices.every((ch, i) => ch.index === i && ch.finish_reason === 'length'),
    'stream helper gives two finished choices', multiFinal.choices);
  return {};
}

// A reasoning model (the C# side scripts the output of seed 1009): the thought reaches the client as
// message.reasoning_content / delta.reasoning_content, beside content, and usage counts reasoning_tokens. The fields are
// not in the client's types; it must pass them through untouched.
async function reasoning() {
  const c = client();
  const model = (await c.models.list()).data[0].id;
  const request = { model, messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 64, temperature: 0, seed: 1009 };
  const whole = await c.chat.completions.create(request);
  const message = whole.choices[0].message;
  check(typeof message.reasoning_content === 'string' && message.reasoning_content.length > 0, 'message.reasoning_content is text', message);
  check(typeof message.content === 'string' && message.content.length > 0, 'message.content is text', message);
  const stream = await c.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let streamedReasoning = '';
  let streamedContent = '';
  let usage;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const delta = chunk.choices[0]?.delta;
    if (!delta) continue;
    check(!(delta.reasoning_content && delta.content), 'a delta carries reasoning or content, not both', delta);
    streamedReasoning += delta.reasoning_content ?? '';
    streamedContent += delta.content ?? '';
  }
  check(streamedReasoning === message.reasoning_content, 'streamed reasoning equals the non-stream reasoning', { streamedReasoning, whole: message.reasoning_content });
  check(streamedContent === message.content, 'streamed content equals the non-stream content', { streamedContent, whole: message.content });
  check(usage?.completion_tokens_details?.reasoning_tokens === whole.usage.completion_tokens_details?.reasoning_tokens,
    'stream usage reasoning_tokens equals the non-stream one', { usage, whole: whole.usage });
  return { reasoning: message.reasoning_content, content: message.content, reasoningTokens: whole.usage.completion_tokens_details.reasoning_tokens };
}

// A long request, cut after a few chunks: by aborting its AbortController, or by leaving the for-await loop (the
// client's Stream aborts its own controller then). The C# side then checks that the engine freed the row.
// Tool calling on a random-weight model with Qwen 2.5's vocabulary and template (the C# side starts that server).
const TOOL_CALL_TOKEN = 151657;   // Qwen 2.5's <tool_call>: a logit_bias on it makes auto open a call at once
const weatherParameters = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 10 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const toolDefs = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: weatherParameters, strict: true } },
  { type: 'function', function: { name: 'now', description: 'The time', parameters: { type: 'object', properties: {} } } },
];

function checkCall(call, what) {
  check(typeof call.id === 'string' && call.id.startsWith('call_'), `${what}: id call_…`, call.id);
  check(call.type === 'function', `${what}: type function`, call.type);
  check(['get_weather', 'now'].includes(call.function.name), `${what}: a known name`, call.function.name);
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'now') check(call.function.arguments === '{}', `${what}: parameterless arguments are {}`, call.function.arguments);
  else {
    check(typeof args.city === 'string' && args.city.length <= 10, `${what}: city`, args);
    check(['celsius', 'fahrenheit'].includes(args.unit), `${what}: unit`, args);
    check(Object.keys(args).every((k) => k === 'city' || k === 'unit'), `${what}: no other keys`, args);
  }
  return args;
}

async function tools() {
  const c = client();
  const model = (await c.models.list()).data[0].id;
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  let streamedCalls = 0;
  for (const seed of [1, 2, 3]) {
    const request = { model, messages, tools: toolDefs, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 600, temperature: 1, seed };
    const whole = await c.chat.completions.create(request);
    const stream = c.chat.completions.stream(request);
    let deltas = 0;
    stream.on('tool_calls.function.arguments.delta', () => deltas++);
    const final = await stream.finalChatCompletion();
    const a = whole.choices[0], b = final.choices[0];
    check(b.finish_reason === a.finish_reason, 'streamed finish_reason equals the non-streamed one', [a.finish_reason, b.finish_reason]);
    if (a.finish_reason !== 'tool_calls') continue;
    check(a.message.content === null, 'content is null beside tool calls', a.message.content);
    check(b.message.tool_calls.length === a.message.tool_calls.length, 'same number of calls streamed', [a.message.tool_calls, b.message.tool_calls]);
    a.message.tool_calls.forEach((call, i) => {
      checkCall(call, `create call ${i}`);
      checkCall(b.message.tool_calls[i], `stream call ${i}`);
      check(b.message.tool_calls[i].function.name === call.function.name, 'streamed name equals', [call, b.message.tool_calls[i]]);
      check(b.message.tool_calls[i].function.arguments === call.function.arguments, 'streamed arguments equal exactly', [call, b.message.tool_calls[i]]);
    });
    check(deltas > 0, 'the stream emitted argument deltas');
    streamedCalls += b.message.tool_calls.length;
  }
  check(streamedCalls > 0, 'some seed finished its calls');

  // runTools with a named function: one completion calls it, the runner runs it and stops.
  const invoked = [];
  const weather = (args) => { invoked.push(args); return { temperature: 21, unit: args.unit }; };
  const runner = c.chat.completions.runTools({
    model, messages, max_tokens: 600, temperature: 1, seed: 4, parallel_tool_calls: false,
    tools: [{ type: 'function', function: { name: 'get_weather', function: weather, parse: JSON.parse, parameters: weatherParameters } }],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  await runner.done();
  check(invoked.length === 1, 'runTools called the named function once', invoked);
  const toolMessage = runner.messages.find((m) => m.role === 'tool');
  check(toolMessage && JSON.parse(toolMessage.content).temperature === 21, 'the tool result joined the conversation', runner.messages);

  // runTools with auto, pushed to call every turn: the tool results go back through the template on each round.
  const rounds = [];
  const clock = () => { rounds.push(Date.now()); return '12:00'; };
  const loop = c.chat.completions.runTools({
    model, messages: [{ role: 'user', content: 'What time is it?' }], max_tokens: 400, temperature: 1, seed: 5,
    tools: [{ type: 'function', function: { name: 'now', function: clock, parameters: { type: 'object', properties: {} } } }],
    tool_choice: 'auto', parallel_tool_calls: false, logit_bias: { [TOOL_CALL_TOKEN]: 100 },
  }, { maxChatCompletions: 3 });
  await loop.done();
  check(rounds.length === 3, 'auto called the tool in each of the three rounds', rounds.length);
  const sent = loop.messages.filter((m) => m.role === 'tool').length;
  check(sent === 3, 'three tool results in the conversation', loop.messages);
  return { streamedCalls, invoked: invoked.length, rounds: rounds.length };
}

async function abort(how) {
  const c = client();
  const model = (await c.models.list()).data[0].id;
  const controller = new AbortController();
  const request = { model, messages: [{ role: 'user', content: 'tell a long story' }], max_tokens: 450, temperature: 0, ignore_eos: true, stream: true };
  const stream = await c.chat.completions.create(request, how === 'signal' ? { signal: controller.signal } : {});
  let received = 0;
  try {
    for await (const chunk of stream) {
      check(!chunk.choices[0]?.finish_reason, 'the stream is cut before it finishes', chunk);
      if (++received === 4) {
        if (how === 'signal') controller.abort();
        else break;
      }
    }
  } catch (e) {
    // openai 7 ends the iteration quietly on a user abort; older majors raised APIUserAbortError. Anything else is a failure.
    check(how === 'signal' && e instanceof OpenAI.APIUserAbortError, 'abort ends the stream quietly or with APIUserAbortError', String(e?.stack ?? e));
  }
  check(received === 4, 'no chunk is delivered after the abort', received);
  check(how !== 'signal' || controller.signal.aborted, 'the signal is aborted');
  return { received };
}

// One request with maxRetries 2 against a server whose queue the C# side keeps full (then maybe drains).
async function rateLimit() {
  const c = client({ maxRetries: 2 });
  const model = (await c.models.list()).data[0].id;
  attempts.length = 0;
  try {
    const r = await c.chat.completions.create({ model, messages: [{ role: 'user', content: 'again' }], max_tokens: 3 });
    check(r.choices[0].message.role === 'assistant', 'the retried request completes');
    return { outcome: 'ok', attempts };
  } catch (e) {
    check(e instanceof OpenAI.RateLimitError && e.status === 429, 'exhausted retries raise RateLimitError', e?.constructor?.name);
    check(e.code === 'rate_limit_exceeded', '429 code rate_limit_exceeded', e.error);
    return { outcome: 'RateLimitError', attempts };
  }
}

try {
  let result;
  switch (scenario) {
    case 'basic': result = await basic(); break;
    case 'abort-signal': result = await abort('signal'); break;
    case 'abort-break': result = await abort('break'); break;
    case 'rate-limit': result = await rateLimit(); break;
    case 'reasoning': result = await reasoning(); break;
    case 'tools': result = await tools(); break;
    default: throw new Error(`unknown scenario ${scenario}`);
  }
  console.log(`${scenario}: ${checks} checks passed`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (e) {
  console.error(`${scenario}: ${e?.stack ?? e}`);
  process.exit(1);
}
