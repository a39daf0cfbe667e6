namespace OnnxLm.Http;

/// <summary>
/// The serve options the endpoints read, and only those: Hosting fills it from its serve options, so the HTTP layer
/// never depends on how options are parsed or wired.
/// </summary>
internal sealed record EndpointOptions
{
    /// <summary>The model id clients see and must send; null = the engine's model id.</summary>
    public string? ServedModelName { get; init; }
    public ReasoningFormat ReasoningFormat { get; init; }
    /// <summary>The tool-call format (<c>--tool-call-format</c>); null = detected from the model's template and vocabulary.</summary>
    public Engine.Text.ToolCallFormat? ToolCallFormat { get; init; }
    public long MaxRequestBytes { get; init; }
    public bool MetricsRequireKey { get; init; }
    public bool LogPrompts { get; init; }
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
}
