using System.Text;
using OnnxLm.Load.Client;

namespace OnnxLm.Tests.Load;

/// <summary>What the load generator reads from streamed chunks: text presence (the role chunk has none), usage with
/// cached tokens, finish reasons and errors.</summary>
public class StreamChunkTests
{
    static StreamChunk Parse(string json, StringBuilder? text = null)
    {
        if (!StreamChunk.TryParse(Encoding.UTF8.GetBytes(json), out var chunk, text)) throw new InvalidOperationException("not parsed");
        return chunk;
    }

    [Test]
    public async Task Role_chunk_with_empty_content_is_not_a_token()
    {
        var c = Parse("""{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}""");
        await Assert.That(c.HasText).IsFalse();
        await Assert.That(c.HasFinishReason).IsFalse();
        await Assert.That(c.CompletionTokens).IsEqualTo(-1);
    }

    [Test]
    public async Task Chat_delta_and_completion_text_are_collected_unescaped()
    {
        var text = new StringBuilder();
        var chat = Parse("""{"choices":[{"index":0,"delta":{"content":"a\"b\u00e9"},"finish_reason":null}]}""", text);
        var completion = Parse("""{"choices":[{"index":0,"text":" c\n","finish_reason":"length"}]}""", text);
        await Assert.That(chat.HasText).IsTrue();
        await Assert.That(completion.HasText).IsTrue();
        await Assert.That(completion.HasFinishReason).IsTrue();
        await Assert.That(text.ToString()).IsEqualTo("a\"bé c\n");
    }

    [Test]
    public async Task A_reasoning_delta_is_a_token_but_only_the_answer_is_collected()
    {
        var text = new StringBuilder();
        var thought = Parse("""{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}""", text);
        var answer = Parse("""{"choices":[{"index":0,"delta":{"content":"Blue."},"finish_reason":null}]}""", text);
        await Assert.That(thought.HasText).IsTrue();
        await Assert.That(answer.HasText).IsTrue();
        await Assert.That(text.ToString()).IsEqualTo("Blue.");
    }

    [Test]
    public async Task Usage_chunk_gives_token_counts_and_cached_tokens()
    {
        var c = Parse("""{"choices":[],"usage":{"prompt_tokens":130,"completion_tokens":64,"total_tokens":194,"prompt_tokens_details":{"cached_tokens":112}}}""");
        await Assert.That(c.HasText).IsFalse();
        await Assert.That(c.PromptTokens).IsEqualTo(130);
        await Assert.That(c.CompletionTokens).IsEqualTo(64);
        await Assert.That(c.CachedTokens).IsEqualTo(112);
    }

    [Test]
    public async Task Only_the_first_choice_counts()
    {
        var c = Parse("""{"choices":[{"index":0,"delta":{}},{"index":1,"delta":{"content":"z"}}]}""");
        await Assert.That(c.HasText).IsFalse();
    }

    [Test]
    public async Task Error_object_message_is_reported()
    {
        var c = Parse("""{"error":{"message":"out of memory","type":"server_error"}}""");
        await Assert.That(c.Error).IsEqualTo("out of memory");
    }

    [Test]
    public async Task Non_object_payload_is_rejected()
    {
        await Assert.That(StreamChunk.TryParse("[1,2]"u8, out _)).IsFalse();
        await Assert.That(StreamChunk.TryParse("{\"choices\":[{"u8, out _)).IsFalse();
    }
}
