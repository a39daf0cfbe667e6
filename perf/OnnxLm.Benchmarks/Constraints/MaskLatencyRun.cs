// mask-latency: per-step ComputeMask time over the schema corpus on real vocabularies (Phi-3 32k, Qwen2.5 151k,
// Gemma 3 262k), as a distribution (mean, p50, p99, max) rather than BenchmarkDotNet's fixed states: each corpus schema
// is decoded by mask-guided random sampling over the real tokens (seeded, biased towards closing values so documents
// end), timing every mask. Also compile time per schema. Writes JSON (default artifacts/perf/mask-latency.json).
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Text;

namespace OnnxLm.Benchmarks.Constraints;

public static class MaskLatencyRun
{
    public static int Run(string[] args)
    {
        string corpusPath = args.Length > 0 ? args[0] : throw new ArgumentException("usage: mask-latency CORPUS.json [OUT.json]");
        string outPath = args.Length > 1 ? args[1] : "artifacts/perf/mask-latency.json";
        using JsonDocument corpus = JsonDocument.Parse(File.ReadAllBytes(corpusPath));
        var schemas = corpus.RootElement.EnumerateArray().Select(e => e.GetRawText()).ToList();

        var compileMicros = new List<double>();
        var grammars = new List<JsonGrammar>();
        foreach (string schema in schemas)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(schema);
            JsonSchemaCompiler.Compile(utf8); // warm the code paths
            long start = Stopwatch.GetTimestamp();
            grammars.Add(JsonSchemaCompiler.Compile(utf8));
            compileMicros.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        var results = new List<object>();
        Console.WriteLine($"{"vocabulary",-10} {"masks",7} {"mean µs",9} {"p50 µs",8} {"p99 µs",9} {"max µs",9}");
        foreach ((string name, string folder) in (ReadOnlySpan<(string, string)>)[("phi3", "phi-3-mini-4k-instruct"), ("qwen25", "qwen2.5-1.5b-instruct"), ("gemma3", "gemma-3-1b-it")])
        {
            var trie = new TokenTrie(TokenVocabulary.Load(Path.Combine(SharedTokenizers.Folder, folder, "tokenizer.json")));
            var times = new List<double>();
            var mask = new ulong[(trie.VocabularySize + 63) / 64];
            var allowed = new List<int>();
            foreach (JsonGrammar grammar in grammars)
            {
                var matcher = new GrammarMatcher(grammar, trie);
                matcher.ComputeMask(mask); // warm-up
                for (int seed = 0; seed < 3; seed++)
                {
                    var random = new Random(seed);
                    matcher.Reset();
                    for (int step = 0; step < 200 && !(matcher.IsAccepting && (!matcher.CanContinue || random.Next(3) == 0)); step++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        matcher.ComputeMask(mask);
                        times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                        allowed.Clear();
                        for (int id = 0; id < trie.VocabularySize; id++)
                        {
                            if ((mask[id >> 6] & (1UL << id)) != 0) allowed.Add(id);
                        }
                        if (allowed.Count == 0) return Fail($"dead state in {name}");
                        int pick = allowed[random.Next(allowed.Count)];
                        if (random.Next(10) < 4)
                        {
                            foreach (int id in allowed)
                            {
                                ReadOnlySpan<byte> t = trie.Vocabulary.GetBytes(id);
                                if (t.Length == 1 && t[0] is (byte)'"' or (byte)'}' or (byte)']' or (byte)',')
                                {
                                    pick = id;
                                    break;
                                }
                            }
                        }
                        matcher.Advance(pick);
                    }
                }
            }
            times.Sort();
            double mean = times.Average(), p50 = times[times.Count / 2], p99 = times[(int)(times.Count * 0.99)], max = times[^1];
            Console.WriteLine($"{name,-10} {times.Count,7} {mean,9:F1} {p50,8:F1} {p99,9:F1} {max,9:F1}");
            results.Add(new Dictionary<string, object>
            {
                ["vocabulary"] = name,
                ["vocabularySize"] = trie.VocabularySize,
                ["masks"] = times.Count,
                ["meanMicros"] = mean,
                ["p50Micros"] = p50,
                ["p99Micros"] = p99,
                ["maxMicros"] = max
            });
        }
        compileMicros.Sort();
        Console.WriteLine($"compile: {schemas.Count} schemas, p50 {compileMicros[compileMicros.Count / 2]:F1} µs, max {compileMicros[^1]:F1} µs");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        using (var stream = File.Create(outPath))
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("schemas", schemas.Count);
            writer.WriteNumber("compileP50Micros", compileMicros[compileMicros.Count / 2]);
            writer.WriteNumber("compileMaxMicros", compileMicros[^1]);
            writer.WriteStartArray("masks");
            foreach (Dictionary<string, object> r in results.Cast<Dictionary<string, object>>())
            {
                writer.WriteStartObject();
                foreach ((string key, object value) in r)
                {
                    if (value is string s) writer.WriteString(key, s);
                    else writer.WriteNumber(key, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 1;
    }
}
