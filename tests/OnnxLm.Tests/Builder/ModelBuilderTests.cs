using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using OnnxLm.Builder;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Builder;

public class ModelBuilderTests
{
    private const string English =
        "The quick brown fox jumps over the lazy dog. People often think that the world is small, but it is large.";

    [Test]
    [Arguments(WeightFormat.Fp32)]
    [Arguments(WeightFormat.Int4)]
    public async Task Tiny_model_generates_varied_greedy_tokens_in_GenAI(WeightFormat format)
    {
        string dir = TinyDir(format);
        int[] prompt = Oracle.Encode(dir, English);

        int[] tokens = Oracle.GreedyTokens(dir, prompt, 40, out bool stoppedAtEos);

        await Assert.That(tokens.Length).IsGreaterThan(10);
        await Assert.That(tokens.Length == 40 || stoppedAtEos).IsTrue();
        foreach (int t in tokens)
            await Assert.That(t).IsGreaterThanOrEqualTo(0).And.IsLessThan(ModelBuilderOptions.Tiny.VocabSize);
        await Assert.That(tokens.Distinct().Count()).IsGreaterThan(3);
    }

    [Test]
    [Arguments(WeightFormat.Fp32)]
    [Arguments(WeightFormat.Int4)]
    public async Task Logits_are_spread_by_a_few_units_without_near_ties(WeightFormat format)
    {
        string dir = TinyDir(format);
        int[] prompt = Oracle.Encode(dir, English);
        float[] logits = LastLogits(dir, prompt);

        double mean = logits.Average();
        double std = Math.Sqrt(logits.Sum(l => (l - mean) * (l - mean)) / logits.Length);
        float[] sorted = logits.OrderByDescending(l => l).ToArray();

        await Assert.That(std).IsGreaterThan(1.0).And.IsLessThan(10.0);
        await Assert.That(sorted[0] - sorted[1]).IsGreaterThan(1e-3f);
    }

    [Test]
    public async Task Int4_model_tracks_the_logits_of_the_fp32_model_it_quantizes()
    {
        int[] prompt = Oracle.Encode(TestModels.TinyFp32, English);
        float[] fp32 = LastLogits(TestModels.TinyFp32, prompt);
        float[] int4 = LastLogits(TestModels.TinyInt4, prompt);

        // A wrong nibble order or block layout would leave the two models uncorrelated.
        double correlation = Correlation(fp32, int4);
        await Assert.That(correlation).IsGreaterThan(0.9);
    }

    [Test]
    [Arguments(WeightFormat.Fp32)]
    [Arguments(WeightFormat.Int4)]
    public async Task Building_twice_gives_byte_identical_files(WeightFormat format)
    {
        var options = ModelBuilderOptions.Tiny with { Weights = format, Seed = 77 };
        string a = NewTempDir(), b = NewTempDir();
        try
        {
            ModelBuilder.Build(a, options);
            ModelBuilder.Build(b, options);

            string[] names = Directory.GetFiles(a).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
            string[] expected = [ModelBuilder.GenAiConfigFileName, ModelBuilder.ModelFileName, ModelBuilder.TokenizerFileName, ModelBuilder.TokenizerConfigFileName];
            await Assert.That(names).IsEquivalentTo(expected);
            foreach (string name in names)
                await Assert.That(File.ReadAllBytes(Path.Combine(b, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(a, name)))).IsTrue();
        }
        finally
        {
            Directory.Delete(a, true);
            Directory.Delete(b, true);
        }
    }

    [Test]
    public async Task Different_seeds_give_different_weights()
    {
        var dirA = TestModels.Get(ModelBuilderOptions.Tiny with { Seed = 1 });
        var dirB = TestModels.Get(ModelBuilderOptions.Tiny with { Seed = 2 });
        byte[] a = File.ReadAllBytes(Path.Combine(dirA, ModelBuilder.ModelFileName));
        byte[] b = File.ReadAllBytes(Path.Combine(dirB, ModelBuilder.ModelFileName));
        await Assert.That(a.AsSpan().SequenceEqual(b)).IsFalse();
    }

    [Test]
    public async Task External_data_model_loads_and_generates_like_the_inline_model()
    {
        string dir = TestModels.Get(ModelBuilderOptions.Tiny with { ExternalDataThreshold = 0 });
        int[] prompt = Oracle.Encode(TestModels.TinyFp32, English);

        await Assert.That(File.Exists(Path.Combine(dir, ModelBuilder.ExternalDataFileName))).IsTrue();
        await Assert.That(new FileInfo(Path.Combine(dir, ModelBuilder.ModelFileName)).Length).IsLessThan(100_000);
        await Assert.That(Oracle.GreedyTokens(dir, prompt, 24)).IsEquivalentTo(Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 24));
        await Assert.That(LastLogits(dir, prompt)).IsEquivalentTo(LastLogits(TestModels.TinyFp32, prompt));
    }

    [Test]
    public async Task GenAI_tokenizer_round_trips_English_in_fewer_tokens_than_bytes()
    {
        string dir = TestModels.TinyFp32;
        int[] ids = Oracle.Encode(dir, English);

        await Assert.That(Oracle.Decode(dir, ids)).IsEqualTo(English);
        await Assert.That(ids.Length).IsLessThan(Encoding.UTF8.GetByteCount(English) * 2 / 3);
        await Assert.That(Oracle.Encode(dir, " the").Length).IsEqualTo(1);
    }

    [Test]
    public async Task Special_tokens_encode_to_their_reserved_ids()
    {
        var o = ModelBuilderOptions.Tiny;
        int[] ids = Oracle.Encode(TestModels.TinyFp32, "<|im_start|>user\nhi<|im_end|><|endoftext|>");

        await Assert.That(ids[0]).IsEqualTo(o.ImStartTokenId);
        await Assert.That(ids[^2]).IsEqualTo(o.ImEndTokenId);
        await Assert.That(ids[^1]).IsEqualTo(o.EndOfTextTokenId);
    }

    [Test]
    public async Task GenAI_applies_the_ChatML_template()
    {
        const string messages = """[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}]""";

        string text = Oracle.ApplyChatTemplate(TestModels.TinyFp32, messages, addGenerationPrompt: true);

        await Assert.That(text).IsEqualTo(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n");
    }

    [Test]
    public async Task Ort_session_io_names_match_genai_config()
    {
        string dir = TestModels.TinyInt4;
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, ModelBuilder.GenAiConfigFileName)));
        var decoder = config.RootElement.GetProperty("model").GetProperty("decoder");
        var inputs = decoder.GetProperty("inputs");
        var outputs = decoder.GetProperty("outputs");
        int layers = decoder.GetProperty("num_hidden_layers").GetInt32();
        var expectedInputs = new List<string> { inputs.GetProperty("input_ids").GetString()!, inputs.GetProperty("attention_mask").GetString()! };
        var expectedOutputs = new List<string> { outputs.GetProperty("logits").GetString()! };
        for (int l = 0; l < layers; l++)
        {
            expectedInputs.Add(Layer(inputs, "past_key_names", l));
            expectedInputs.Add(Layer(inputs, "past_value_names", l));
            expectedOutputs.Add(Layer(outputs, "present_key_names", l));
            expectedOutputs.Add(Layer(outputs, "present_value_names", l));
        }

        using var session = new InferenceSession(Path.Combine(dir, decoder.GetProperty("filename").GetString()!));

        await Assert.That(session.InputNames.ToArray()).IsEquivalentTo(expectedInputs);
        await Assert.That(session.OutputNames.ToArray()).IsEquivalentTo(expectedOutputs);
        await Assert.That(session.OutputMetadata["logits"].Dimensions[^1]).IsEqualTo(config.RootElement.GetProperty("model").GetProperty("vocab_size").GetInt32());
    }

    [Test]
    [Arguments(nameof(ModelBuilderOptions.NumKvHeads))]
    [Arguments(nameof(ModelBuilderOptions.HiddenSize))]
    [Arguments(nameof(ModelBuilderOptions.IntermediateSize))]
    [Arguments(nameof(ModelBuilderOptions.HeadSize))]
    [Arguments(nameof(ModelBuilderOptions.VocabSize))]
    [Arguments(nameof(ModelBuilderOptions.ContextLength))]
    [Arguments(nameof(ModelBuilderOptions.RmsEps))]
    public async Task Invalid_options_throw_naming_the_option(string option)
    {
        var tiny = ModelBuilderOptions.Tiny;
        var bad = option switch
        {
            nameof(ModelBuilderOptions.NumKvHeads) => tiny with { NumHeads = 4, NumKvHeads = 3 },
            nameof(ModelBuilderOptions.HiddenSize) => tiny with { HiddenSize = 48, Weights = WeightFormat.Int4 },
            nameof(ModelBuilderOptions.IntermediateSize) => tiny with { IntermediateSize = 100, Weights = WeightFormat.Int4 },
            nameof(ModelBuilderOptions.HeadSize) => tiny with { HeadSize = 15 },
            nameof(ModelBuilderOptions.VocabSize) => tiny with { VocabSize = 258 },
            nameof(ModelBuilderOptions.ContextLength) => tiny with { ContextLength = 0 },
            nameof(ModelBuilderOptions.RmsEps) => tiny with { RmsEps = float.NaN },
            _ => throw new ArgumentOutOfRangeException(nameof(option)),
        };
        string dir = NewTempDir();

        var ex = Assert.Throws<ArgumentException>(() => ModelBuilder.Build(dir, bad));

        await Assert.That(ex.ParamName).IsEqualTo(option);
        await Assert.That(ex.Message).Contains(option);
        await Assert.That(Directory.Exists(dir)).IsFalse();
    }

    [Test]
    public async Task Presets_are_valid_and_sized_as_documented()
    {
        ModelBuilderOptions.Tiny.Validate();
        ModelBuilderOptions.Benchmark.Validate();
        (ModelBuilderOptions.Benchmark with { Weights = WeightFormat.Int4 }).Validate();

        await Assert.That(ModelBuilderOptions.Benchmark.ParameterCount).IsBetween(120_000_000L, 130_000_000L);
        await Assert.That(new FileInfo(Path.Combine(TestModels.TinyFp32, ModelBuilder.ModelFileName)).Length).IsBetween(100_000L, 1_000_000L);
    }

    private static double Correlation(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.Sqrt(saa * sbb);
    }

    private static string TinyDir(WeightFormat format) => format == WeightFormat.Int4 ? TestModels.TinyInt4 : TestModels.TinyFp32;

    private static string Layer(JsonElement section, string property, int layer) =>
        section.GetProperty(property).GetString()!.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static string NewTempDir() => Path.Combine(Path.GetTempPath(), "onnxlm-builder-test-" + Guid.NewGuid().ToString("N"));

    /// <summary>Logits of the last prompt position from a plain ORT prefill with empty past.</summary>
    private static float[] LastLogits(string dir, int[] prompt)
    {
        var o = ModelBuilderOptions.Tiny;
        using var session = new InferenceSession(Path.Combine(dir, ModelBuilder.ModelFileName));
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, prompt.Length).ToArray(), [1, prompt.Length]),
        };
        for (int i = 0; i < 2 * o.NumLayers; i++)
            values.Add(OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, o.NumKvHeads, 0, o.HeadSize]));
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, session.InputNames, values, ["logits"]);
            return results[0].GetTensorDataAsSpan<float>()[^o.VocabSize..].ToArray();
        }
        finally
        {
            foreach (var v in values)
                v.Dispose();
        }
    }
}
