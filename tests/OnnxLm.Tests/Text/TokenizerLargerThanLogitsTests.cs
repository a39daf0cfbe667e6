using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using OnnxLm.Builder;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Text;

/// <summary>
/// Gemma 3's tokenizer.json defines 262,145 ids for 262,144 logits (<c>&lt;image_soft_token&gt;</c> sits past them).
/// Such a model loads, says so in one log line, and generates exactly as before: the extra ids are never sampled.
/// </summary>
public class TokenizerLargerThanLogitsTests
{
    // The tiny model with Gemma's extra token at id vocab_size, shared by the tests of one run.
    private static readonly Lazy<string> Folder =
        new(() => CopyWithExtraToken(TestModels.TinyFp32, ModelBuilderOptions.Tiny.VocabSize, "<image_soft_token>"));

    [Test]
    public async Task A_tokenizer_with_more_ids_than_the_logits_loads_logs_one_line_and_generates_as_before()
    {
        int logits = ModelBuilderOptions.Tiny.VocabSize;
        string folder = Folder.Value;
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

    [Test]
    public async Task A_prompt_holding_an_id_past_the_logits_is_a_400_and_the_server_goes_on()
    {
        // The model has no embedding row for such an id: it must never reach a model run (where it would fail every
        // request in the batch), whether sent as an id or written as the token's text.
        int logits = ModelBuilderOptions.Tiny.VocabSize;
        string folder = Folder.Value;
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = folder);
        using var client = ServerFixture.CreateClient(server);

        var (idStatus, idBody) = await OpenAiWire.PostJsonAsync(client, "/v1/completions",
            $$"""{"prompt":[1,2,{{logits}}],"max_tokens":3,"temperature":0}""");
        var (textStatus, textBody) = await OpenAiWire.PostJsonAsync(client, "/v1/completions",
            """{"prompt":"hello <image_soft_token>","max_tokens":3,"temperature":0}""");
        var (chatStatus, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
            """{"messages":[{"role":"user","content":"look: <image_soft_token>"}],"max_tokens":3,"temperature":0}""");
        var (okStatus, _) = await OpenAiWire.PostJsonAsync(client, "/v1/completions",
            """{"prompt":[1,2,3],"max_tokens":3,"temperature":0}""");

        await Assert.That(idStatus).IsEqualTo(400);
        await Assert.That(idBody.GetProperty("error").GetProperty("message").GetString()).Contains($"{logits}");
        await Assert.That(textStatus).IsEqualTo(400);
        await Assert.That(textBody.GetProperty("error").GetProperty("message").GetString()).Contains($"{logits}");
        await Assert.That(chatStatus).IsEqualTo(400);
        await Assert.That(okStatus).IsEqualTo(200);
    }

    /// <summary>
    /// A model folder whose tokenizer.json gains one special added token with the given id; the other files are links to
    /// the source folder's.
    /// </summary>
    private static string CopyWithExtraToken(string source, int id, string content)
    {
        string folder = TokenizerFiles.NewTempDirectory();
        foreach (string file in Directory.EnumerateFiles(source))
        {
            string target = Path.Combine(folder, Path.GetFileName(file));
            if (Path.GetFileName(file) == "tokenizer.json") File.Copy(file, target);
            else File.CreateSymbolicLink(target, file);
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
