using System.Text;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Hostile inputs for every endpoint: a fixed corpus (malformed JSON, wrong types for every field, huge numbers, 10,000
/// levels of nesting, invalid UTF-8, escaped unpaired surrogates, empty and 10 MB bodies, odd content types, methods and
/// paths) and seeded random mutations of valid requests. Deterministic: the same seed gives the same cases.
/// </summary>
internal static class FuzzCorpus
{
    public const string Chat = "/v1/chat/completions";
    public const string Completions = "/v1/completions";
    public static readonly string[] PostEndpoints = [Chat, Completions];
    public static readonly string[] GetEndpoints = ["/v1/models", "/health"];

    const string User = "[{\"role\":\"user\",\"content\":\"hi\"}]";

    /// <summary>Valid requests the mutations start from (small max_tokens so accepted mutants finish quickly).</summary>
    public static readonly (string Path, string Json)[] Seeds =
    [
        (Chat, $"{{\"messages\":{User},\"max_tokens\":3}}"),
        (Chat, "{\"model\":null,\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}],\"max_completion_tokens\":3,\"temperature\":0.7,\"top_p\":0.9,\"top_k\":20,\"min_p\":0.05,\"seed\":42,\"stop\":[\"\\n\",\"end\"],\"presence_penalty\":0.5,\"frequency_penalty\":0.2,\"repetition_penalty\":1.1,\"logit_bias\":{\"5\":-3},\"n\":1,\"user\":\"u\"}"),
        (Chat, $"{{\"messages\":{User},\"max_tokens\":3,\"stream\":true,\"stream_options\":{{\"include_usage\":true}},\"stop\":\"x\"}}"),
        (Completions, "{\"prompt\":\"Once upon a time\",\"max_tokens\":3,\"temperature\":0}"),
        (Completions, "{\"prompt\":[1,2,3,4],\"max_tokens\":3,\"stream\":true,\"seed\":7,\"logit_bias\":{\"9\":100}}"),
        (Completions, "{\"prompt\":[\"a single prompt\"],\"max_tokens\":3,\"echo\":false,\"top_k\":1}"),
    ];

    /// <summary>Every field either endpoint knows, to be given every wrong type.</summary>
    static readonly string[] Fields =
    [
        "model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "seed",
        "stop", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "n", "stream", "stream_options",
        "user", "ignore_eos", "tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "echo", "suffix", "best_of",
    ];

    static readonly string[] WrongValues =
    [
        "null", "true", "false", "0", "-1", "1.5", "-0.0", "\"\"", "\"x\"", "[]", "{}", "[null]", "[[]]", "{\"a\":1}",
        "1e400", "-1e400", "1e-400", "99999999999999999999", "-99999999999999999999", "2147483648", "-2147483649",
        "9223372036854775808", "18446744073709551616", "0.1e1", "1E+2", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"",
        "[1e400]", "[99999999999999999999]", "{\"1\":1e400}", "{\"99999999999999999999\":1}", "{\"-1\":1}", "{\"1\":\"x\"}",
    ];

    static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    static byte[] Concat(params byte[][] parts)
    {
        var all = new List<byte>();
        foreach (var p in parts) all.AddRange(p);
        return [.. all];
    }

    /// <summary>Bodies that are wrong whatever the endpoint.</summary>
    static IEnumerable<(string Name, byte[] Body)> GenericBodies()
    {
        yield return ("empty", []);
        yield return ("whitespace", Utf8("  \n\t "));
        foreach (string s in new[] { "null", "true", "0", "-", "\"str\"", "[]", "[{}]", "{", "}", "{}", "{\"", "{\"a\"", "{\"a\":", "{\"a\":}", "{,}",
                     "{\"a\":1,}", "{'a':1}", "{a:1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}",
                     "{\"a\":1}{\"b\":2}", "{\"a\":1} x", "/* c */{}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"line\nbreak\"}", "\"\\u0000\"",
                     "{\"messages\":", "{\"messages\":[", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", "{\"prompt\":\"x\",\"max_tokens\":" })
            yield return ($"json {s}", Utf8(s));
        yield return ("nul bytes", [0, 0, 0, 0]);
        yield return ("utf-8 bom then object", Concat([0xEF, 0xBB, 0xBF], Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2}}")));
        yield return ("utf-16 body", Encoding.Unicode.GetBytes($"{{\"messages\":{User}}}"));
        // Deep nesting: far past any depth limit, as the whole body and inside known and unknown fields.
        yield return ("10000 nested arrays", Utf8(new string('[', 10_000) + new string(']', 10_000)));
        yield return ("10000 nested objects", Utf8(string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000)));
        yield return ("10000 unclosed arrays", Utf8(new string('[', 10_000)));
        yield return ("deep content", Utf8($"{{\"messages\":[{{\"role\":\"user\",\"content\":{new string('[', 10_000)}{new string(']', 10_000)}}}],\"prompt\":{new string('[', 10_000)}{new string(']', 10_000)}}}"));
        yield return ("deep unknown field", Utf8($"{{\"extra\":{string.Concat(Enumerable.Repeat("{\"a\":", 10_000))}1{new string('}', 10_000)},\"messages\":{User},\"prompt\":\"x\"}}"));
        yield return ("deep stop", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"stop\":{new string('[', 10_000)}{new string(']', 10_000)}}}"));
        // Invalid UTF-8 inside strings, property names and between tokens.
        byte[][] badUtf8 = [[0xFF], [0xFE, 0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3], [0x80], [0xF0, 0x9F, 0x98]];
        foreach (var bad in badUtf8)
        {
            string hex = Convert.ToHexString(bad);
            yield return ($"invalid utf-8 {hex} in content", Concat(Utf8("{\"messages\":[{\"role\":\"user\",\"content\":\"a"), bad, Utf8("b\"}],\"prompt\":\"a"), bad, Utf8("\",\"max_tokens\":2}")));
            yield return ($"invalid utf-8 {hex} in stop", Concat(Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"stop\":[\""), bad, Utf8("\"]}")));
            yield return ($"invalid utf-8 {hex} in role and model", Concat(Utf8("{\"model\":\""), bad, Utf8("\",\"messages\":[{\"role\":\""), bad, Utf8("\",\"content\":\"hi\"}],\"prompt\":\"x\"}")));
            yield return ($"invalid utf-8 {hex} in a property name", Concat(Utf8("{\""), bad, Utf8($"\":1,\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2}}")));
            yield return ($"invalid utf-8 {hex} between tokens", Concat(Utf8("{"), bad, Utf8($"\"messages\":{User}}}")));
            yield return ($"invalid utf-8 {hex} at the end", Concat(Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2}}"), bad));
        }
        foreach (string esc in new[] { "\\ud800", "\\udc00", "\\ud800\\ud800", "\\udbff", "x\\ud83d" })
        {
            yield return ($"escaped surrogate {esc} in strings", Utf8($"{{\"messages\":[{{\"role\":\"user\",\"content\":\"{esc}\"}}],\"prompt\":\"{esc}\",\"max_tokens\":2}}"));
            yield return ($"escaped surrogate {esc} in text part", Utf8($"{{\"messages\":[{{\"role\":\"user\",\"content\":[{{\"type\":\"text\",\"text\":\"{esc}\"}}]}}],\"prompt\":[\"{esc}\"],\"max_tokens\":2}}"));
            yield return ($"escaped surrogate {esc} in stop", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"stop\":\"{esc}\"}}"));
            yield return ($"escaped surrogate {esc} in stop array", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"stop\":[\"ok\",\"{esc}\"]}}"));
            yield return ($"escaped surrogate {esc} in part type", Utf8($"{{\"messages\":[{{\"role\":\"user\",\"content\":[{{\"type\":\"{esc}\"}}]}}],\"prompt\":\"x\"}}"));
            yield return ($"escaped surrogate {esc} in names", Utf8($"{{\"{esc}\":1,\"model\":\"{esc}\",\"user\":\"{esc}\",\"suffix\":\"{esc}\",\"tool_choice\":\"{esc}\",\"response_format\":{{\"type\":\"{esc}\"}},\"logit_bias\":{{\"{esc}\":1}},\"messages\":{User},\"prompt\":\"x\"}}"));
        }
        // Shapes of messages and prompts that are JSON-valid but wrong.
        foreach (string m in new[] { "[null]", "[1]", "[\"hi\"]", "[[]]", "[{}]", "[{\"role\":null}]", "[{\"role\":\"user\"}]", "[{\"role\":\"user\",\"content\":null}]",
                     "[{\"role\":\"user\",\"content\":[null]}]", "[{\"role\":\"user\",\"content\":[{}]}]", "[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]",
                     "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]", "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
                     "[{\"role\":\"wizard\",\"content\":\"hi\"}]", "[{\"role\":\"user\",\"content\":{\"text\":\"hi\"}}]", "[{\"role\":\"tool\",\"content\":\"x\",\"tool_call_id\":5}]",
                     "[{\"role\":\"user\",\"content\":\"hi\",\"name\":[]}]", "[{\"role\":\"user\",\"content\":\"\"}]", "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{}]}]" })
            yield return ($"messages {m}", Utf8($"{{\"messages\":{m},\"max_tokens\":2}}"));
        foreach (string p in new[] { "[]", "[[]]", "[[1,2]]", "[1,\"a\"]", "[\"a\",1]", "[\"a\",\"b\"]", "[-1]", "[400]", "[2147483648]", "[1.5]", "[1e400]", "[99999999999999999999]", "\"\"", "[\"\"]", "{}", "[{}]", "[null]" })
            yield return ($"prompt {p}", Utf8($"{{\"prompt\":{p},\"max_tokens\":2}}"));
        foreach (string s in new[] { "[]", "[\"\"]", "[1]", "[null]", "[[\"a\"]]", "{}", $"[{string.Join(',', Enumerable.Range(0, 40).Select(i => $"\"s{i}\""))}]", $"\"{new string('s', 100_000)}\"" })
            yield return ($"stop {s[..Math.Min(s.Length, 40)]}", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"stop\":{s}}}"));
        foreach (string lb in new[] { "{\"\":1}", "{\"a\":1}", "{\" 1\":1}", "{\"1 \":1}", "{\"+1\":1}", "{\"0x1\":1}", "{\"1\":101}", "{\"1\":-101}", "{\"1\":null}", "{\"1\":[]}", "[]", "{\"400\":1}", "{\"4000000000\":1}" })
            yield return ($"logit_bias {lb}", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"logit_bias\":{lb}}}"));
        // Numbers out of every range, for the fields that take numbers.
        foreach (string f in new[] { "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty", "n", "top_logprobs", "logprobs", "best_of" })
            foreach (string v in new[] { "1e400", "-1e400", "99999999999999999999", "-99999999999999999999", "2147483647", "-2147483648", "1e-400", "-1", "0", "3.4e38", "-3.4e38", "1.7976931348623157e308" })
                yield return ($"{f}={v}", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"{f}\":{v}}}".Replace($"\"max_tokens\":2,\"{f}\"", $"\"{f}\"", StringComparison.Ordinal)));
        // Duplicated fields, the last of which is wrong.
        yield return ("duplicate max_tokens", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"max_tokens\":2,\"max_tokens\":\"x\"}}"));
        yield return ("duplicate messages", Utf8($"{{\"messages\":{User},\"messages\":5,\"prompt\":\"x\",\"prompt\":5}}"));
        // Many elements (within the size limit).
        yield return ("100k messages", Utf8($"{{\"messages\":[{string.Join(',', Enumerable.Repeat("{\"role\":\"user\",\"content\":\"a\"}", 100_000))}],\"max_tokens\":2}}"));
        yield return ("100k prompt ids", Utf8($"{{\"prompt\":[{string.Join(',', Enumerable.Repeat("1", 100_000))}],\"max_tokens\":2}}"));
        yield return ("100k logit_bias keys", Utf8($"{{\"messages\":{User},\"prompt\":\"x\",\"logit_bias\":{{{string.Join(',', Enumerable.Range(0, 100_000).Select(i => $"\"{i}\":1"))}}}}}"));
    }

    /// <summary>The fixed corpus for every endpoint.</summary>
    public static IEnumerable<FuzzCase> Fixed()
    {
        var generic = GenericBodies().ToList();
        foreach (string path in PostEndpoints)
        {
            foreach (var (name, body) in generic) yield return new FuzzCase(name, HttpMethod.Post, path, body);
            // Every field given every wrong type, on top of an otherwise valid request for this endpoint.
            string valid = path == Chat ? $"\"messages\":{User}" : "\"prompt\":\"x\"";
            foreach (string f in Fields)
                foreach (string v in WrongValues)
                    yield return new FuzzCase($"{f}={v}", HttpMethod.Post, path, Utf8($"{{{valid},\"max_tokens\":2,\"{f}\":{v}}}".Replace($"\"max_tokens\":2,\"{f}\"", $"\"{f}\"", StringComparison.Ordinal)));
            // Content types.
            byte[] ok = Utf8($"{{{valid},\"max_tokens\":2}}");
            foreach (string? ct in new[] { null, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/jsonx", "*/*", "application/json; charset=\"", ";;;" })
                yield return new FuzzCase($"content-type {ct ?? "(none)"}", HttpMethod.Post, path, ok, ct);
            // 10 MB bodies: over the 8 MB limit, declared and chunked; and just under it.
            byte[] huge = Utf8($"{{{valid},\"max_tokens\":2,\"user\":\"{new string('u', 10 << 20)}\"}}");
            yield return new FuzzCase("10 MB valid JSON", HttpMethod.Post, path, huge);
            yield return new FuzzCase("10 MB valid JSON chunked", HttpMethod.Post, path, huge, Chunked: true);
            yield return new FuzzCase("10 MB of [", HttpMethod.Post, path, Utf8(new string('[', 10 << 20)), Chunked: true);
            yield return new FuzzCase("10 MB of whitespace", HttpMethod.Post, path, Utf8(new string(' ', 10 << 20)));
            yield return new FuzzCase("10 MB of 0xFF", HttpMethod.Post, path, Enumerable.Repeat((byte)0xFF, 10 << 20).ToArray(), Chunked: true);
            string text = path == Chat ? "content" : "prompt";
            yield return new FuzzCase("7 MB prompt", HttpMethod.Post, path,
                Utf8(path == Chat ? $"{{\"messages\":[{{\"role\":\"user\",\"{text}\":\"{new string('w', 7 << 20)}\"}}]}}" : $"{{\"prompt\":\"{new string('w', 7 << 20)}\"}}"));
            // Other methods.
            foreach (var m in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options })
                yield return new FuzzCase($"method {m}", m, path, m == HttpMethod.Get ? null : ok);
        }
        foreach (string path in GetEndpoints)
        {
            yield return new FuzzCase("plain", HttpMethod.Get, path, null, null);
            yield return new FuzzCase("query string", HttpMethod.Get, path + "?a=%ff%fe&b=" + new string('q', 2000), null, null);
            foreach (var (name, body) in generic.Where((_, i) => i % 7 == 0))
            {
                yield return new FuzzCase($"GET with body {name}", HttpMethod.Get, path, body);
                yield return new FuzzCase($"POST {name}", HttpMethod.Post, path, body);
            }
            foreach (var m in new[] { HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options })
                yield return new FuzzCase($"method {m}", m, path, Utf8("{}"));
            yield return new FuzzCase("method HEAD", HttpMethod.Head, path, null, null);
        }
        // Paths that do not exist, or are odd spellings of ones that do.
        foreach (string path in new[] { "/", "/v1", "/v1/", "/v1/embeddings", "/v1/chat", "/v1/chat/completions/", "/v1/chat/completions/x", "/v1/models/nope",
                     "/v1//chat/completions", "/V1/CHAT/COMPLETIONS", "/%ff%fe", "/v1/../health", "/health/..", "/" + new string('a', 4000) })
            yield return new FuzzCase("odd path", HttpMethod.Post, path, Utf8($"{{\"messages\":{User},\"max_tokens\":2}}"));
        // Kestrel itself refuses these before the application runs (a NUL in the path, a request line over 8 KB).
        yield return new FuzzCase("NUL in the path", HttpMethod.Post, "/v1/chat/completions%00", Utf8("{}"), ErrorIsOpenAiJson: false);
        yield return new FuzzCase("path over Kestrel's request-line limit", HttpMethod.Get, "/" + new string('a', 10_000), null, null, ErrorIsOpenAiJson: false);
    }

    static readonly string[] Tokens =
    [
        "{", "}", "[", "]", "\"", ",", ":", "null", "true", "-", "\\", "\\u", "\\ud800", "1e999", "-1e400", "99999999999999999999", "0", "\u0000",
        "\"messages\":", "\"prompt\":", "\"stream\":true", "\"max_tokens\":", "\"stop\":", "[[[[[[[[", "}}}}", " ", "\xff",
    ];

    /// <summary>Seeded random mutations of the valid <see cref="Seeds"/>: byte flips, insertions of JSON tokens or raw bytes,
    /// deletions, duplications, truncations and swaps of numbers for huge ones.</summary>
    public static IEnumerable<FuzzCase> Mutations(int seed, int count)
    {
        var random = new Random(seed);
        for (int n = 0; n < count; n++)
        {
            var (path, json) = Seeds[random.Next(Seeds.Length)];
            var bytes = new List<byte>(Encoding.UTF8.GetBytes(json));
            int edits = 1 + random.Next(4);
            var names = new List<string>();
            for (int e = 0; e < edits && bytes.Count > 0; e++)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(7))
                {
                    case 0:
                        bytes[at] ^= (byte)(1 << random.Next(8));
                        names.Add($"flip@{at}");
                        break;
                    case 1:
                        string token = Tokens[random.Next(Tokens.Length)];
                        bytes.InsertRange(at, token == "\xff" ? [0xFF] : Encoding.UTF8.GetBytes(token));
                        names.Add($"insert '{token}'@{at}");
                        break;
                    case 2:
                        int len = Math.Min(bytes.Count - at, 1 + random.Next(12));
                        bytes.RemoveRange(at, len);
                        names.Add($"delete {len}@{at}");
                        break;
                    case 3:
                        int dup = Math.Min(bytes.Count - at, 1 + random.Next(30));
                        bytes.InsertRange(at, bytes.GetRange(at, dup));
                        names.Add($"duplicate {dup}@{at}");
                        break;
                    case 4:
                        bytes.RemoveRange(at, bytes.Count - at);
                        names.Add($"truncate@{at}");
                        break;
                    case 5:
                        bytes.Insert(at, (byte)random.Next(256));
                        names.Add($"byte@{at}");
                        break;
                    default:
                        // Replace the first digit run at or after `at` with a huge or negative number.
                        int d = bytes.FindIndex(at, b => b is >= (byte)'0' and <= (byte)'9');
                        if (d < 0) goto case 5;
                        int end = d;
                        while (end < bytes.Count && bytes[end] is >= (byte)'0' and <= (byte)'9' or (byte)'.') end++;
                        string[] numbers = ["1e400", "99999999999999999999", "-1", "-0", "2147483648", "1e-400", "4e9"];
                        string number = numbers[random.Next(numbers.Length)];
                        bytes.RemoveRange(d, end - d);
                        bytes.InsertRange(d, Encoding.UTF8.GetBytes(number));
                        names.Add($"number {number}@{d}");
                        break;
                }
            }
            yield return new FuzzCase($"mutant {n} of seed {seed}: {string.Join(", ", names)}", HttpMethod.Post, path, [.. bytes]);
        }
    }
}
