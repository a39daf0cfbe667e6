using System.Text.Json;

namespace OnnxLm.Load.Workloads;

/// <summary>
/// One request to send. Exactly one prompt form is set: <see cref="Messages"/> (chat), <see cref="Prompt"/> or
/// <see cref="PromptTokenIds"/> (completions), or <see cref="RawBody"/> (replay: sent as given, with streaming forced).
/// </summary>
public sealed class RequestPlan
{
    public EndpointKind Kind { get; init; }
    public IReadOnlyList<ChatTurn>? Messages { get; init; }
    public string? Prompt { get; init; }
    public int[]? PromptTokenIds { get; init; }
    public JsonElement? RawBody { get; init; }

    /// <summary>max_tokens; 0 leaves it to the server (replay lines without one).</summary>
    public int MaxTokens { get; init; }

    /// <summary>Keep the streamed text (multi-turn sends it back as the assistant turn).</summary>
    public bool CollectText { get; init; }

    /// <summary>OpenAI's <c>prompt_cache_key</c>: the conversation, for a load balancer that routes by it; null = none.</summary>
    public string? SessionKey { get; init; }
}
