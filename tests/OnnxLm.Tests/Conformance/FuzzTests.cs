using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Hostile requests at every endpoint (<see cref="FuzzCorpus"/>): each must get an answer below 500 within a per-request
/// timeout (a refusal as OpenAI error JSON, or a well-formed success), and afterwards the server must still serve a valid
/// request with every engine row free. A 500 here is a bug: clients retry 5xx, so it would turn into a retry loop.
/// </summary>
public class FuzzTests
{
    static readonly TimeSpan PerRequest = TimeSpan.FromSeconds(30);

    static async Task<string?> SendAndCheck(HttpClient client, Uri server, FuzzCase c)
    {
        using var cts = new CancellationTokenSource(PerRequest);
        try
        {
            if (c.Body is { Length: > 1 << 20 })
            {
                var answer = await RawHttp.SendAsync(server, c.Method.Method, c.Path, c.Body, c.ContentType, c.Chunked, cts.Token);
                return Validate(c, answer.Status, answer.ContentType?.Split(';')[0].Trim(), answer.Body);
            }
            using var request = new HttpRequestMessage(c.Method, c.Path);
            if (c.Body is not null)
            {
                var content = new ByteArrayContent(c.Body);
                if (c.ContentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
                request.Content = content;
                if (c.Chunked) request.Headers.TransferEncodingChunked = true;
            }
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            byte[] body = await response.Content.ReadAsByteArrayAsync(cts.Token);
            return Validate(c, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return $"{c}: no complete answer within {PerRequest.TotalSeconds} s";
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return $"{c}: connection failed without an answer: {e.Message}";
        }
    }

    static string? Validate(FuzzCase c, int status, string? media, byte[] body)
    {
        string text = Encoding.UTF8.GetString(body);
        string Brief() => text.Length > 300 ? text[..300] + "..." : text;
        if (status >= 500) return $"{c}: {status} {Brief()}";
        if (c.Method == HttpMethod.Head) return null;
        if (status >= 400)
        {
            if (!c.ErrorIsOpenAiJson) return null;
            if (media != "application/json") return $"{c}: {status} with Content-Type {media}: {Brief()}";
            try
            {
                using var doc = JsonDocument.Parse(body);
                var error = doc.RootElement.GetProperty("error");
                if (error.GetProperty("message").ValueKind != JsonValueKind.String || error.GetProperty("type").ValueKind != JsonValueKind.String)
                    return $"{c}: {status} error without message/type: {Brief()}";
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return $"{c}: {status} body is not an OpenAI error: {Brief()}";
            }
            return null;
        }
        if (media == "text/event-stream")
        {
            // A stream ends with [DONE], or with an error event (then no [DONE]); never just stops.
            if (!text.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal) && !text.Contains("data: {\"error\"", StringComparison.Ordinal))
                return $"{c}: {status} stream does not end with [DONE]: {Brief()}";
            try
            {
                foreach (string e in OpenAiWire.DataEvents(text)) if (e != "[DONE]") JsonDocument.Parse(e).Dispose();
            }
            catch (Exception e) when (e is JsonException or FormatException)
            {
                return $"{c}: {status} malformed SSE: {e.Message}";
            }
            return null;
        }
        try
        {
            JsonDocument.Parse(body).Dispose();
        }
        catch (JsonException)
        {
            return $"{c}: {status} body is not JSON: {Brief()}";
        }
        return null;
    }

    /// <summary>Sends every case (a few at a time), then checks the server is healthy and idle; fails listing every bad answer.</summary>
    static async Task RunAsync(IEnumerable<FuzzCase> cases, int expectAtLeast)
    {
        await using OnnxLmServer server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server, drainOnDispose: false);
        var failures = new ConcurrentBag<string>();
        int sent = 0;
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (c, _) =>
        {
            Interlocked.Increment(ref sent);
            if (await SendAndCheck(client, server.BaseAddress, c) is { } failure) failures.Add(failure);
        });
        var list = failures.OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (list.Count > 0)
            throw new InvalidOperationException($"{list.Count} of {sent} cases failed:\n" + string.Join('\n', list.Take(40)));
        await Assert.That(sent).IsGreaterThanOrEqualTo(expectAtLeast);

        // Still serving, with nothing left behind in the engine.
        await EngineIdle.WaitAsync(server.Engine, "after the fuzz cases");
        var (status, ok) = await OpenAiWire.PostJsonAsync(client, FuzzCorpus.Chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"still there?\"}],\"max_tokens\":4,\"ignore_eos\":true}");
        await Assert.That(status).IsEqualTo(200);
        await Assert.That(ok.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(4);
        using var health = await client.GetAsync("/health");
        await Assert.That((int)health.StatusCode).IsEqualTo(200);
        await EngineIdle.WaitAsync(server.Engine, "after the final request");
        Console.WriteLine($"fuzz: {sent} cases in {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Test]
    public async Task Fixed_hostile_corpus_at_every_endpoint_gets_no_5xx_and_the_server_keeps_serving() =>
        await RunAsync(FuzzCorpus.Fixed(), expectAtLeast: 2000);

    [Test]
    public async Task Seeded_mutations_of_valid_requests_get_no_5xx_and_the_server_keeps_serving() =>
        await RunAsync(FuzzCorpus.Mutations(seed: 20_251_129, count: 400), expectAtLeast: 400);
}
