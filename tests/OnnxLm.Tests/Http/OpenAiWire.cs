using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Http;

/// <summary>Raw HTTP helpers for the server tests: requests are sent as literal JSON text and responses are read as bytes,
/// so the tests see exactly what a client sees on the wire.</summary>
internal static class OpenAiWire
{
    public static HttpRequestMessage Post(string path, string json, string contentType = "application/json") =>
        new(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue(contentType)) };

    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json, CancellationToken ct = default) =>
        client.SendAsync(Post(path, json), HttpCompletionOption.ResponseHeadersRead, ct);

    /// <summary>The body parsed as JSON, after checking it is declared as JSON.</summary>
    public static async Task<JsonElement> JsonBodyAsync(HttpResponseMessage response)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
            throw new InvalidOperationException($"Content-Type is '{response.Content.Headers.ContentType}', not application/json");
        string body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    /// <summary>Posts a request and returns the parsed JSON body with the status.</summary>
    public static async Task<(int Status, JsonElement Body)> PostJsonAsync(HttpClient client, string path, string json)
    {
        using var response = await PostAsync(client, path, json);
        return ((int)response.StatusCode, await JsonBodyAsync(response));
    }

    /// <summary>
    /// Splits a Server-Sent Events body into its data payloads. Every event must be exactly <c>data: &lt;payload&gt;\n\n</c>
    /// (no other fields, no multi-line data, no trailing bytes) or the keep-alive comment <c>: keep-alive\n\n</c>, which is
    /// skipped; anything else throws.
    /// </summary>
    public static List<string> DataEvents(string body)
    {
        var events = new List<string>();
        int i = 0;
        while (i < body.Length)
        {
            int end = body.IndexOf("\n\n", i, StringComparison.Ordinal);
            if (end < 0) throw new FormatException($"unterminated event at byte {i}: '{body[i..]}'");
            string ev = body[i..end];
            if (ev == ": keep-alive")
            {
                i = end + 2;
                continue;
            }
            if (!ev.StartsWith("data: ", StringComparison.Ordinal) || ev.Contains('\n') || ev.Contains('\r'))
                throw new FormatException($"not a single data line: '{ev}'");
            events.Add(ev["data: ".Length..]);
            i = end + 2;
        }
        return events;
    }

    /// <summary>The text our detokenizer gives for <paramref name="tokens"/> (special tokens skipped), read from the
    /// folder's tokenizer.json independently of the running server.</summary>
    public static string Detokenize(string modelDir, ReadOnlySpan<int> tokens)
    {
        var detokenizer = new IncrementalDetokenizer(TokenVocabulary.Load(Path.Combine(modelDir, "tokenizer.json")));
        var bytes = new List<byte>();
        foreach (int t in tokens)
        {
            detokenizer.Append(t, skipSpecial: true);
            bytes.AddRange(detokenizer.TakeCompleted());
        }
        bytes.AddRange(detokenizer.Flush());
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>Per token, the text it completed (same rules as <see cref="Detokenize"/>); their concatenation is the text.</summary>
    public static string[] TokenPieces(string modelDir, ReadOnlySpan<int> tokens)
    {
        var detokenizer = new IncrementalDetokenizer(TokenVocabulary.Load(Path.Combine(modelDir, "tokenizer.json")));
        var pieces = new string[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            detokenizer.Append(tokens[i], skipSpecial: true);
            pieces[i] = Encoding.UTF8.GetString(detokenizer.TakeCompleted());
            if (i == tokens.Length - 1) pieces[i] += Encoding.UTF8.GetString(detokenizer.Flush());
        }
        return pieces;
    }

    public static string Json(string s) => JsonSerializer.Serialize(s, Tests.Http.WireJsonContext.Default.String);

    public static string Ids(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < ids.Length; i++) sb.Append(i > 0 ? "," : "").Append(ids[i]);
        return sb.Append(']').ToString();
    }
}
