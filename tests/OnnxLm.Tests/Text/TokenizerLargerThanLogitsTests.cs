using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Model.Builder;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Text;

/// <summary>
/// Gemma 3's tokenizer.json defines 262,145 ids for 262,144 logits (<c>&lt;image_soft_token&gt;</c> sits past them).
/// Such a model loads, says so in one log line, and generates exactly as before: the extra ids are never sampled.
/// </summary>
public class TokenizerLargerThanLogitsTests
{
    [Test]
    public async Task A_tokenizer_with_more_ids_than_the_logits_loads_logs_one_line_and_generates_as_before()
    {
        int logits = ModelBuilderOptions.Tiny.VocabSize;
        string folder = CopyWithExtraToken(TestModels.TinyFp32, logits, "<image_soft_token>");
        var log = new ConcurrentQueue<string>();

        using var engine = InferenceEngine.Start(new EngineOptions
        {
            ModelDirectory = folder,
            MaxBatchSize = 2,
            KvCacheMemory = EngineDriver.TestCacheMemory,
            SsdCache = false,
            Log = log.Enqueue,
        });
        int[] prompt = EngineDriver.RandomPrompt(11, 9);
        var result = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 12));

        await Assert.That(engine.Vocabulary.Count).IsEqualTo(logits + 1);
        await Assert.That(engine.Vocabulary.IsSpecial(logits)).IsTrue();
        string[] lines = [.. log.Where(l => l.Contains("tokenizer.json", StringComparison.Ordinal))];
        await Assert.That(lines.Length).IsEqualTo(1);
        await Assert.That(lines[0]).Contains($"{logits + 1} ids");
        await Assert.That(lines[0]).Contains($"{logits}");
        await Assert.That(result.Error).IsNull();
        await Assert.That(result.Tokens.All(t => t < logits)).IsTrue();
        await Assert.That(string.Join(",", result.TokensWithoutEos(engine.Contract.Config.EosTokenIds)))
            .IsEqualTo(string.Join(",", Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 12)));
    }

    /// <summary>A copy of a model folder whose tokenizer.json gains one special added token with the given id.</summary>
    private static string CopyWithExtraToken(string source, int id, string content)
    {
        string folder = TokenizerFiles.NewTempDirectory();
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(folder, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        string path = Path.Combine(folder, "tokenizer.json");
        JsonNode root = JsonNode.Parse(File.ReadAllText(path))!;
        root["added_tokens"]!.AsArray().Add(new JsonObject
        {
            ["id"] = id,
            ["content"] = content,
            ["single_word"] = false,
            ["lstrip"] = false,
            ["rstrip"] = false,
            ["normalized"] = false,
            ["special"] = true,
        });
        File.WriteAllText(path, root.ToJsonString());
        return folder;
    }
}
