using System.Buffers;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Http;

/// <summary>
/// Writes log-probabilities in OpenAI's two shapes without allocating: a token is shown as its text (its bytes decoded
/// leniently: a token that is half of a UTF-8 character reads as U+FFFD) and, for chat, its exact bytes as integers.
/// </summary>
internal static class LogprobJson
{
    /// <summary>OpenAI and vLLM report -9999 for a token the sampler could never pick (JSON has no -Infinity).</summary>
    public static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : -9999f;

    public static ReadOnlySpan<byte> TokenBytes(TokenVocabulary vocabulary, int id) =>
        (uint)id < (uint)vocabulary.Count ? vocabulary.GetBytes(id) : default;

    /// <summary>Writes the token's text as a JSON string value (or property name when <paramref name="asName"/>).</summary>
    public static void WriteTokenText(Utf8JsonWriter w, TokenVocabulary vocabulary, int id, bool asName = false)
    {
        var bytes = TokenBytes(vocabulary, id);
        char[]? rented = null;
        Span<char> chars = bytes.Length <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        // The default UTF8 encoding replaces invalid sequences with U+FFFD instead of throwing.
        int n = Encoding.UTF8.GetChars(bytes, chars);
        if (asName) w.WritePropertyName(chars[..n]);
        else w.WriteStringValue(chars[..n]);
        if (rented is not null) ArrayPool<char>.Shared.Return(rented);
    }

    static void WriteBytes(Utf8JsonWriter w, TokenVocabulary vocabulary, int id)
    {
        w.WriteStartArray("bytes"u8);
        foreach (byte b in TokenBytes(vocabulary, id)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    /// <summary>One entry of chat <c>logprobs.content</c>: {token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}.</summary>
    public static void WriteChatEntry(Utf8JsonWriter w, TokenVocabulary vocabulary, int id, float logprob, ReadOnlySpan<TokenLogprob> top)
    {
        w.WriteStartObject();
        w.WritePropertyName("token"u8);
        WriteTokenText(w, vocabulary, id);
        w.WriteNumber("logprob"u8, Finite(logprob));
        WriteBytes(w, vocabulary, id);
        w.WriteStartArray("top_logprobs"u8);
        foreach (var t in top)
        {
            w.WriteStartObject();
            w.WritePropertyName("token"u8);
            WriteTokenText(w, vocabulary, t.TokenId);
            w.WriteNumber("logprob"u8, Finite(t.Logprob));
            WriteBytes(w, vocabulary, t.TokenId);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>One entry of a text completion's <c>top_logprobs</c> list: an object from token text to logprob.</summary>
    public static void WriteLegacyTop(Utf8JsonWriter w, TokenVocabulary vocabulary, ReadOnlySpan<TokenLogprob> top)
    {
        w.WriteStartObject();
        foreach (var t in top)
        {
            WriteTokenText(w, vocabulary, t.TokenId, asName: true);
            w.WriteNumberValue(Finite(t.Logprob));
        }
        w.WriteEndObject();
    }
}
