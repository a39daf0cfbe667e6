using System.Text;
using System.Text.Json;

namespace OnnxLm.Load.Client;

/// <summary>
/// What the load generator needs from one streamed chunk (chat <c>choices[0].delta.content</c> or
/// <c>reasoning_content</c>, or completion
/// <c>choices[0].text</c>, <c>finish_reason</c>, <c>usage</c>, <c>error</c>), read with <see cref="Utf8JsonReader"/>
/// without materialising the chunk. Token counts are -1 when the chunk does not carry them.
/// </summary>
public struct StreamChunk
{
    /// <summary>True when the first choice carries non-empty text.</summary>
    public bool HasText;
    public bool HasFinishReason;
    public int PromptTokens;
    public int CompletionTokens;
    public int CachedTokens;
    public string? Error;

    /// <summary>Parses one SSE data payload. Appends the text to <paramref name="text"/> when given.
    /// Returns false when the payload is not a JSON object.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out StreamChunk chunk, StringBuilder? text = null)
    {
        chunk = new StreamChunk { PromptTokens = -1, CompletionTokens = -1, CachedTokens = -1 };
        try
        {
            var r = new Utf8JsonReader(json);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return false;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("choices"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.StartArray) ReadChoices(ref r, ref chunk, text);
                    else r.Skip();
                }
                else if (r.ValueTextEquals("usage"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.StartObject) ReadUsage(ref r, ref chunk);
                    else r.Skip();
                }
                else if (r.ValueTextEquals("error"u8))
                {
                    r.Read();
                    chunk.Error = ReadError(ref r);
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    static void ReadChoices(ref Utf8JsonReader r, ref StreamChunk chunk, StringBuilder? text)
    {
        bool first = true;
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            // Only the first choice is measured (n = 1).
            if (!first || r.TokenType != JsonTokenType.StartObject)
            {
                r.Skip();
                continue;
            }
            first = false;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("delta"u8))
                {
                    r.Read();
                    if (r.TokenType != JsonTokenType.StartObject)
                    {
                        r.Skip();
                        continue;
                    }
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        bool isContent = r.ValueTextEquals("content"u8);
                        // A reasoning model's thought is generated text too: it times the first token and the gaps (as
                        // vLLM's benchmark does), but only the answer is collected.
                        bool isReasoning = !isContent && r.ValueTextEquals("reasoning_content"u8);
                        r.Read();
                        if (isContent && r.TokenType == JsonTokenType.String) ReadText(ref r, ref chunk, text);
                        else if (isReasoning && r.TokenType == JsonTokenType.String) ReadText(ref r, ref chunk, null);
                        else r.Skip();
                    }
                }
                else if (r.ValueTextEquals("text"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.String) ReadText(ref r, ref chunk, text);
                    else r.Skip();
                }
                else if (r.ValueTextEquals("finish_reason"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.String) chunk.HasFinishReason = true;
                    else r.Skip();
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
        }
    }

    static void ReadText(ref Utf8JsonReader r, ref StreamChunk chunk, StringBuilder? text)
    {
        // An escaped value is never shorter than its unescaped text, so a raw length of 0 means empty either way.
        if (r.ValueSpan.Length == 0 && !r.HasValueSequence) return;
        chunk.HasText = true;
        text?.Append(r.GetString());
    }

    static void ReadUsage(ref Utf8JsonReader r, ref StreamChunk chunk)
    {
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("prompt_tokens"u8)) chunk.PromptTokens = ReadInt(ref r);
            else if (r.ValueTextEquals("completion_tokens"u8)) chunk.CompletionTokens = ReadInt(ref r);
            else if (r.ValueTextEquals("prompt_tokens_details"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartObject)
                {
                    r.Skip();
                    continue;
                }
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    if (r.ValueTextEquals("cached_tokens"u8)) chunk.CachedTokens = ReadInt(ref r);
                    else
                    {
                        r.Read();
                        r.Skip();
                    }
                }
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }
    }

    static int ReadInt(ref Utf8JsonReader r)
    {
        r.Read();
        return r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v) ? v : -1;
    }

    static string ReadError(ref Utf8JsonReader r)
    {
        if (r.TokenType == JsonTokenType.String) return r.GetString() ?? "error";
        if (r.TokenType != JsonTokenType.StartObject)
        {
            r.Skip();
            return "error";
        }
        string message = "error";
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            bool isMessage = r.ValueTextEquals("message"u8);
            r.Read();
            if (isMessage && r.TokenType == JsonTokenType.String) message = r.GetString() ?? message;
            else r.Skip();
        }
        return message;
    }
}
