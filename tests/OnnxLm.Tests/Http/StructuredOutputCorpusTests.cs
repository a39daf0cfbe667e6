using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Hosting;
using OnnxLm.Tests.Constraints;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Every output validates, through HTTP: the whole schema corpus (<see cref="SchemaCorpus"/>, over 100 accepted
/// schemas) sent as <c>response_format: json_schema</c> (strict) to <c>/v1/chat/completions</c> of random-weight models,
/// greedy and with temperature 1 / top_p 0.9 over several seeds (n = 2, so forked matchers are covered too). Every
/// <c>stop</c> output must be valid under ajv (an independent validator, <see cref="AjvValidator"/>) and complete for the
/// grammar; every <c>length</c> output must be a prefix the matcher accepts; every corpus schema marked refused must be
/// a 400 naming its keyword. Requests run concurrently so the matrix fits in well under a minute.
/// </summary>
public class StructuredOutputCorpusTests
{
    const string Chat = "/v1/chat/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"Reply with the JSON document only.\"}]";

    sealed record Output(SchemaCase Case, string Sampling, string Finish, string Text);

    [Test]
    public async Task Every_stop_output_validates_on_the_tiny_model() =>
        await RunCorpusAsync(TestModels.TinyFp32, seeds: 4, maxTokens: 256, minStopSchemas: 60);

    /// <summary>The same on Qwen2.5's real 151k byte-level BPE vocabulary: multi-byte tokens that straddle JSON
    /// structure, and a 151,936-wide (padded) output layer. Documents rarely end within the token budget on random
    /// weights (a string closes only when a token with a quote is drawn), so most finishes here are the length check.</summary>
    [Test]
    public async Task Every_stop_output_validates_on_a_real_151k_vocabulary() =>
        await RunCorpusAsync(await RealFamilies.Qwen25.ModelAsync(), seeds: 2, maxTokens: 64, minStopSchemas: 45);

    static async Task RunCorpusAsync(string model, int seeds, int maxTokens, int minStopSchemas)
    {
        var clock = Stopwatch.StartNew();
        await using OnnxLmServer server = await ServerFixture.StartDedicatedAsync(o =>
        {
            o.Model = model;
            o.MaxBatchSize = 16;
        });
        using HttpClient client = ServerFixture.CreateClient(server);

        var requests = new List<(SchemaCase Case, string Sampling, string Body)>();
        foreach (SchemaCase c in SchemaCorpus.Cases)
        {
            string format = $"\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"{c.Name}\",\"strict\":true,\"schema\":{c.Schema}}}}}";
            requests.Add((c, "greedy", $"{{\"messages\":{User},\"max_tokens\":{maxTokens},\"temperature\":0,{format}}}"));
            if (c.Refused is not null) continue;
            for (int seed = 0; seed < seeds; seed++)
                requests.Add((c, $"t1 seed {seed}", $"{{\"messages\":{User},\"max_tokens\":{maxTokens},\"temperature\":1,\"top_p\":0.9,\"n\":2,\"seed\":{seed},{format}}}"));
        }

        var outputs = new ConcurrentBag<Output>();
        var failures = new ConcurrentBag<string>();
        using var gate = new SemaphoreSlim(24);
        await Task.WhenAll(requests.Select(async r =>
        {
            await gate.WaitAsync();
            try
            {
                var (status, body) = await OpenAiWire.PostJsonAsync(client, Chat, r.Body);
                if (r.Case.Refused is { } keyword)
                {
                    // Fail closed: a restricting keyword the compiler does not enforce is a 400 that names it.
                    string message = status == 400 ? body.GetProperty("error").GetProperty("message").GetString()! : "";
                    if (status != 400 || !message.Contains($"'{keyword}'", StringComparison.Ordinal)
                        || body.GetProperty("error").GetProperty("code").GetString() != "invalid_json_schema")
                        failures.Add($"{r.Case.Name}: expected a 400 naming '{keyword}', got {status} {body}");
                    return;
                }
                if (status != 200)
                {
                    failures.Add($"{r.Case.Name} {r.Sampling}: HTTP {status} {body}");
                    return;
                }
                foreach (JsonElement choice in body.GetProperty("choices").EnumerateArray())
                    outputs.Add(new Output(r.Case, r.Sampling, choice.GetProperty("finish_reason").GetString()!,
                        choice.GetProperty("message").GetProperty("content").GetString()!));
            }
            finally
            {
                gate.Release();
            }
        }));
        await Assert.That(failures).IsEmpty();
        TimeSpan served = clock.Elapsed;

        // Length finishes: a prefix of some document of the schema (the matcher accepts every byte). Stop finishes: a
        // complete document for the grammar, then valid for ajv.
        var grammars = SchemaCorpus.Accepted.ToDictionary(c => c.Name, c => ConstraintFixtures.Compile(c.Schema));
        var stops = new List<Output>();
        int lengths = 0;
        foreach (Output o in outputs)
        {
            var matcher = new GrammarMatcher(grammars[o.Case.Name], ConstraintFixtures.Bytes);
            bool viable = matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(o.Text));
            await Assert.That(viable).IsTrue().Because($"{o.Case.Name} {o.Sampling} {o.Finish}: {o.Text}");
            if (o.Finish == "length")
            {
                lengths++;
                continue;
            }
            await Assert.That(o.Finish).IsEqualTo("stop");
            await Assert.That(matcher.IsAccepting).IsTrue().Because($"{o.Case.Name} {o.Sampling} stopped incomplete: {o.Text}");
            stops.Add(o);
        }

        // The canary proves the validator can say no: a document that breaks its schema must come back invalid.
        var items = stops.Select(o => new ValidationItem(o.Case.Schema, o.Text)).ToList();
        items.Add(new ValidationItem(SchemaCorpus.Get("get_weather").Schema, """{"location":"Paris","unit":"kelvin"}"""));
        ValidationVerdict[] verdicts = await AjvValidator.ValidateAsync(items);
        await Assert.That(verdicts[^1].Valid).IsFalse().Because("the canary");
        var invalid = stops.Zip(verdicts).Where(p => !p.Second.Valid).Select(p => $"{p.First.Case.Name} {p.First.Sampling}: {p.First.Text} -> {p.Second.Errors}").ToList();

        int stopSchemas = stops.Select(o => o.Case.Name).Distinct().Count();
        Console.WriteLine($"{Path.GetFileName(model)}: {requests.Count} requests, {outputs.Count} outputs over {grammars.Count} schemas: " +
            $"{stops.Count} stop ({stopSchemas} schemas), {lengths} length; ajv invalid {invalid.Count}; served in {served.TotalSeconds:F1} s, total {clock.Elapsed.TotalSeconds:F1} s");
        foreach (string line in invalid) Console.WriteLine("INVALID: " + line);
        await Assert.That(invalid).IsEmpty();
        await Assert.That(outputs.Count).IsEqualTo(grammars.Count * (1 + 2 * seeds));
        await Assert.That(stopSchemas).IsGreaterThanOrEqualTo(minStopSchemas);
    }
}
