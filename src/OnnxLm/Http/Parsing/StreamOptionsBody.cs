namespace OnnxLm.Http.Parsing;

/// <summary><c>stream_options</c> of chat and text completions.</summary>
[JsonRequest]
public sealed partial class StreamOptionsBody
{
    [JsonField("include_usage")] public bool IncludeUsage { get; set; }
}
