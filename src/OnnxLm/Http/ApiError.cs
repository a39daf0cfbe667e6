using System.Text.Json;

namespace OnnxLm.Http;

/// <summary>An OpenAI-shaped error: <c>{"error":{"message","type","param","code"}}</c> with its HTTP status.</summary>
public sealed class ApiError(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Seconds for a Retry-After header (429/503).</summary>
    public int? RetryAfter { get; init; }

    public static ApiError BadRequest(string message, string? param = null, string? code = null) => new(400, message, "invalid_request_error", param, code);

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("error"u8);
        w.WriteString("message"u8, Message);
        w.WriteString("type"u8, Type);
        if (Param is null) w.WriteNull("param"u8); else w.WriteString("param"u8, Param);
        if (Code is null) w.WriteNull("code"u8); else w.WriteString("code"u8, Code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        if (RetryAfter is int s) response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using (var w = new Utf8JsonWriter(response.BodyWriter))
            WriteJson(w);
        await response.BodyWriter.FlushAsync();
    }
}
