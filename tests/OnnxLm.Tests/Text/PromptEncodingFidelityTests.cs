using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Conformance;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Text;

/// <summary>
/// The prompt side: GenAI's encoder (what onnxlm bills as prompt_tokens and feeds the model) against Hugging Face's own
/// JavaScript tokenizer on the same tokenizer files, for texts that stress pre-tokenization: prose, code, numbers,
/// whitespace runs, multibyte scripts, emoji, and the special tokens' own text inside a prompt.
/// </summary>
public sealed class PromptEncodingFidelityTests
{
    public static IEnumerable<Func<RealFamily>> Families() =>
        RealFamilies.All.Where(f => f != RealFamilies.Qwen25JinjaFile).Select(f => (Func<RealFamily>)(() => f));

    static readonly string[] Texts =
    [
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        " leading space and  two  spaces   three",
        "Tabs\tand\nnewlines\n\n\nand\r\nCRLF",
        "Numbers: 1 12 123 1234 12345 3.14159 -42 1e10 2026-12-06",
        "def f(x):\n    return x ** 2  # square\n\nprint(f(3))",
        "{\"json\": [1, 2, {\"nested\": null}], \"ok\": true}",
        "Grüße aus Köln — «naïve» café, señor, Øresund",
        "日本語のテキストと中文文本，还有한국어",
        "Emoji 🙂👍🏽👨‍👩‍👧 and symbols ∑ ∫ √ € £ ¥",
        "Ünïcödé ǅ ﬁ ｆｕｌｌｗｉｄｔｈ",
        "   ",
        "a",
        "<|im_start|>user\nhi<|im_end|>",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>",
        "<start_of_turn>user\nhi<end_of_turn>",
        "<s>[INST] hi [/INST]</s>",
        "<｜User｜>hi<｜Assistant｜><think>\n",
    ];

    /// <summary>
    /// Where the JS reference itself departs from transformers' (Rust) tokenizer, the expected ids are Rust's, pinned
    /// here. Llama 2's legacy tokenizer.json normalizes each segment between added tokens on its own, so the text after
    /// <c>&lt;s&gt;</c> gets its own ▁ ("▁[" = 518) and <c>&lt;/s&gt;</c> is the special token 2; tokenizers.js runs the
    /// normalizer over the whole text and leaves <c>&lt;/s&gt;</c> as text.
    /// </summary>
    static readonly Dictionary<(string Family, string Text), int[]> RustWhereJsDiffers = new()
    {
        [("llama-2-no-template", "<s>[INST] hi [/INST]</s>")] = [1, 518, 25580, 29962, 7251, 518, 29914, 25580, 29962, 2],
    };

    [Test]
    [MethodDataSource(nameof(Families))]
    public async Task GenAIs_encoder_equals_Hugging_Faces_tokenizer(RealFamily family)
    {
        string model = await family.ModelAsync();
        string input = Path.Combine(Path.GetTempPath(), $"onnxlm-encode-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(input, JsonSerializer.Serialize(Texts, Http.WireJsonContext.Default.StringArray));
        JsonArray reference;
        try
        {
            reference = JsonNode.Parse(await NodeScript.RunReferenceAsync("encode-reference.mjs", TimeSpan.FromSeconds(120), model, input))!.AsArray();
        }
        finally
        {
            File.Delete(input);
        }
        using var encoder = new PromptEncoder(model);
        var mismatches = new List<string>();
        for (int i = 0; i < Texts.Length; i++)
        {
            int[] expected = RustWhereJsDiffers.TryGetValue((family.Name, Texts[i]), out var rust)
                ? rust
                : reference[i]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
            int[] actual = encoder.Encode(Texts[i]);
            if (!expected.SequenceEqual(actual))
                mismatches.Add($"{JsonSerializer.Serialize(Texts[i], Http.WireJsonContext.Default.String)}: HF [{string.Join(",", expected)}] GenAI [{string.Join(",", actual)}]");
        }
        await Assert.That(mismatches).IsEmpty().Because($"{family}:\n{string.Join("\n", mismatches)}");
    }
}
