// One ComputeMask call per invocation, at a fixed matcher state of a realistic tool-argument schema, over real
// vocabularies (Phi-3 32k SentencePiece, Qwen2.5 151k byte-level BPE, Gemma 3 262k SentencePiece) read from
// ../shared/tokenizers. The states are where a constrained decode spends its steps: inside a free string (the plain-token
// fast path), at a property key, inside a number, after a value, in a length-bounded string, in a format (email) string. Expected allocation: 0 B for every case.
using System.Text;
using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Text;

namespace OnnxLm.Benchmarks.Constraints;

[MemoryDiagnoser]
public class GrammarMaskBenchmarks
{
    public const string Schema = """
        {"type":"object","properties":{
          "location":{"type":"string","description":"City and country"},
          "unit":{"enum":["celsius","fahrenheit"]},
          "days":{"type":"integer","minimum":1,"maximum":14},
          "include":{"type":"array","items":{"enum":["hourly","daily","alerts"]},"maxItems":3},
          "notes":{"type":["string","null"],"maxLength":200},
          "contact":{"type":"string","format":"email"}},
         "required":["location","unit"],"additionalProperties":false}
        """;

    private GrammarMatcher inString = null!;
    private GrammarMatcher atKey = null!;
    private GrammarMatcher inNumber = null!;
    private GrammarMatcher afterValue = null!;
    private GrammarMatcher inBoundedString = null!;
    private GrammarMatcher inPattern = null!;
    private ulong[] mask = [];

    [Params("phi3", "qwen25", "gemma3")]
    public string Vocabulary { get; set; } = "qwen25";

    [GlobalSetup]
    public void Setup()
    {
        string folder = Vocabulary switch
        {
            "phi3" => "phi-3-mini-4k-instruct",
            "qwen25" => "qwen2.5-1.5b-instruct",
            _ => "gemma-3-1b-it",
        };
        var trie = new TokenTrie(TokenVocabulary.Load(Path.Combine(SharedTokenizers.Folder, folder, "tokenizer.json")));
        JsonGrammar grammar = JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(Schema));
        inString = At(grammar, trie, """{"location":"San Fr""");
        atKey = At(grammar, trie, """{"location":"Paris","unit":"celsius","d""");
        inNumber = At(grammar, trie, """{"location":"Paris","unit":"celsius","days":1""");
        afterValue = At(grammar, trie, """{"location":"Paris","unit":"celsius","days":12,"include":["daily"]""");
        inBoundedString = At(grammar, trie, """{"location":"Paris","unit":"celsius","notes":"bring an umb""");
        inPattern = At(grammar, trie, """{"location":"Paris","unit":"celsius","contact":"ann.lee@exam""");
        mask = new ulong[inString.MaskWords];
    }

    private static GrammarMatcher At(JsonGrammar grammar, TokenTrie trie, string prefix)
    {
        var matcher = new GrammarMatcher(grammar, trie);
        if (!matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(prefix)))
        {
            throw new InvalidOperationException($"benchmark prefix not accepted: {prefix}");
        }
        matcher.ComputeMask(new ulong[matcher.MaskWords]); // warm-up: the undo log reaches its size
        return matcher;
    }

    [Benchmark]
    public void Mask_in_string() => inString.ComputeMask(mask);

    [Benchmark]
    public void Mask_at_key() => atKey.ComputeMask(mask);

    [Benchmark]
    public void Mask_in_number() => inNumber.ComputeMask(mask);

    [Benchmark]
    public void Mask_after_value() => afterValue.ComputeMask(mask);

    [Benchmark]
    public void Mask_in_bounded_string() => inBoundedString.ComputeMask(mask);

    /// <summary>A format string (email): a DFA state, walked over the whole trie.</summary>
    [Benchmark]
    public void Mask_in_pattern() => inPattern.ComputeMask(mask);
}

/// <summary>Schema compile time (no vocabulary involved): the benchmark schema, and a recursive one with $defs.</summary>
[MemoryDiagnoser]
public class JsonSchemaCompileBenchmarks
{
    private static readonly byte[] ToolSchema = Encoding.UTF8.GetBytes(GrammarMaskBenchmarks.Schema);

    private static readonly byte[] RecursiveSchema = """
        {"$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array",
         "items":{"$ref":"#/$defs/node"}}},"required":["name"]}},"$ref":"#/$defs/node"}
        """u8.ToArray();

    [Benchmark]
    public JsonGrammar Compile_tool_schema() => JsonSchemaCompiler.Compile(ToolSchema);

    [Benchmark]
    public JsonGrammar Compile_recursive_schema() => JsonSchemaCompiler.Compile(RecursiveSchema);
}

internal static class SharedTokenizers
{
    private static readonly Lazy<string> Found = new(() =>
    {
        foreach (string start in (string[])[AppContext.BaseDirectory, Directory.GetCurrentDirectory()])
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "tokenizers");
                if (File.Exists(Path.Combine(candidate, "README.md")))
                {
                    return candidate;
                }
            }
        }
        throw new DirectoryNotFoundException("shared/tokenizers not found above the benchmark's folder (see its README).");
    });

    public static string Folder => Found.Value;
}
