using System.Text;
using System.Text.Json;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// The envelope shared by every generated <c>TryParse</c>: the body must be non-empty and hold exactly one JSON object,
/// nested at most <see cref="MaxDepth"/> deep. Errors here have no param: they are about the body. UTF-8 is not checked
/// here but per string as it is read (<see cref="JsonStringText"/>), so the error can name the field; bytes outside
/// strings are the reader's to refuse, and values the server skips are never decoded.
/// </summary>
public static class RequestBody
{
    /// <summary>Deep enough for any OpenAI request (tool schemas included), shallow enough to bound the reader's stack.</summary>
    public const int MaxDepth = 32;

    static readonly JsonReaderOptions Options = new() { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Checks the body and leaves <paramref name="reader"/> on the opening brace.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> utf8Json, out Utf8JsonReader reader, out RequestParseError error)
    {
        reader = default;
        if (utf8Json.Trim(" \t\r\n"u8).IsEmpty)
        {
            error = RequestParseError.Body("request body is empty");
            return false;
        }
        reader = new Utf8JsonReader(utf8Json, Options);
        try
        {
            reader.Read();
        }
        catch (JsonException e)
        {
            error = Malformed(e);
            return false;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = RequestParseError.Body("request body must be a JSON object");
            return false;
        }
        error = default;
        return true;
    }

    /// <summary>After the root object: anything but whitespace is an error (the reader throws for it).</summary>
    public static bool TryClose(ref Utf8JsonReader reader, out RequestParseError error)
    {
        error = default;
        if (!reader.Read()) return true;
        error = RequestParseError.Body("request body has data after the JSON object");
        return false;
    }

    public static RequestParseError Malformed(JsonException e)
    {
        // The reader's message names the problem and its line/byte position, which is what a client needs to fix it.
        var message = new StringBuilder("request body is not valid JSON: ").Append(e.Message);
        return RequestParseError.Body(message.ToString());
    }
}
