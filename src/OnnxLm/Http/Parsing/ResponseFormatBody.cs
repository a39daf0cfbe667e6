namespace OnnxLm.Http.Parsing;

/// <summary><c>response_format</c>: only its <c>type</c> is read (the server accepts "text"); schemas are skipped.</summary>
[JsonRequest]
public sealed partial class ResponseFormatBody
{
    [JsonField("type", MaxLength = 64, Required = true)] public Utf8Slice Type { get; set; }
}
