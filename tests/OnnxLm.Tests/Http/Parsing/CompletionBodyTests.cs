using System.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Tests.Http.Parsing;

public class CompletionBodyTests
{
    static (bool Ok, RequestParseError Error, CompletionBody Body, byte[] Json) Parse(string json)
    {
        var body = new CompletionBody();
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        bool ok = CompletionBody.TryParse(bytes, body, out var error);
        return (ok, error, body, bytes);
    }

    [Test]
    public async Task Prompt_as_string_strings_or_token_ids()
    {
        var (ok, _, body, json) = Parse("{\"prompt\":\"Once upon\",\"logprobs\":5,\"echo\":true,\"best_of\":2,\"suffix\":\"end\",\"seed\":-9223372036854775808}");
        await Assert.That(ok).IsTrue();
        await Assert.That(body.Prompt.Kind).IsEqualTo(PromptKind.Text);
        await Assert.That(body.Prompt.Texts[0].GetString(json)).IsEqualTo("Once upon");
        await Assert.That(body.Logprobs).IsEqualTo(5);
        await Assert.That(body.Echo).IsTrue();
        await Assert.That(body.BestOf).IsEqualTo(2);
        await Assert.That(body.Suffix.GetString(json)).IsEqualTo("end");
        await Assert.That(body.Seed).IsEqualTo(long.MinValue);

        (ok, _, body, json) = Parse("{\"prompt\":[\"a\",\"b\"]}");
        await Assert.That(ok).IsTrue();
        await Assert.That(body.Prompt.Kind).IsEqualTo(PromptKind.Texts);
        await Assert.That(body.Prompt.Texts.Count).IsEqualTo(2);
        await Assert.That(body.Prompt.Texts[1].GetString(json)).IsEqualTo("b");

        (ok, _, body, _) = Parse("{\"prompt\":[1,2,3.0,4e0]}");
        await Assert.That(ok).IsTrue();
        await Assert.That(body.Prompt.Kind).IsEqualTo(PromptKind.Tokens);
        await Assert.That(body.Prompt.Tokens.ToArray()).IsEquivalentTo(new[] { 1, 2, 3, 4 });
    }

    [Test]
    [Arguments("{\"prompt\":[1,\"a\"]}", "prompt[1]", "prompt[1] must be a token id (a non-negative integer)")]
    [Arguments("{\"prompt\":[\"a\",1]}", "prompt[1]", "prompt[1] must be a string")]
    [Arguments("{\"prompt\":[[1,2]]}", "prompt[0]", "prompt[0] batches of token arrays are not supported")]
    [Arguments("{\"prompt\":[1,-5]}", "prompt[1]", "prompt[1] must be a token id (a non-negative integer)")]
    [Arguments("{\"prompt\":{}}", "prompt", "prompt must be a string, an array of strings or an array of token ids")]
    [Arguments("{\"model\":\"m\"}", "prompt", "prompt is required")]
    [Arguments("{\"prompt\":\"x\",\"logprobs\":true}", "logprobs", "logprobs must be an integer")]
    [Arguments("{\"prompt\":\"x\",\"n\":2147483648}", "n", "n is out of range for a 32-bit integer")]
    public async Task Invalid_values_name_their_param(string json, string param, string message)
    {
        var (ok, error, _, _) = Parse(json);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsEqualTo(param);
        await Assert.That(error.Message).IsEqualTo(message);
    }

    [Test]
    public async Task Reuse_switches_prompt_shapes_cleanly()
    {
        var body = new CompletionBody();
        await Assert.That(CompletionBody.TryParse("{\"prompt\":[5,6,7]}"u8, body, out _)).IsTrue();
        await Assert.That(CompletionBody.TryParse("{\"prompt\":\"text\"}"u8, body, out _)).IsTrue();
        await Assert.That(body.Prompt.Kind).IsEqualTo(PromptKind.Text);
        await Assert.That(body.Prompt.Tokens.Length).IsEqualTo(0);
        await Assert.That(body.Prompt.Texts.Count).IsEqualTo(1);
    }
}
