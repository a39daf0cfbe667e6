using System.Diagnostics;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// What the per-request log line says about one request. The outermost middleware creates it (one small object per
/// request, set as an HTTP feature), the completion handler fills in the generation figures once at the request's end
/// (never per token), and the middleware hands it to <see cref="RequestLog"/> with the final status.
/// </summary>
internal sealed class RequestLogEntry(string endpoint, long arrival)
{
    public string Endpoint { get; } = endpoint;
    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the request arrived.</summary>
    public long Arrival { get; } = arrival;
    /// <summary>The response id (chatcmpl-…/cmpl-…), or null: the connection's trace id is used.</summary>
    public string? Id { get; set; }
    public int Status { get; set; }
    /// <summary>False until a completion ran on the engine: the token figures mean nothing before.</summary>
    public bool Generated { get; private set; }
    public int PromptTokens { get; private set; }
    public int CachedTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    /// <summary>Completion tokens inside a reasoning model's thought (0 for other models).</summary>
    public int ReasoningTokens { get; private set; }
    /// <summary>Timestamps of the first and the last generated token (0 = none).</summary>
    public long FirstToken { get; private set; }
    public long LastToken { get; private set; }
    /// <summary>Per choice: how it ended (<see cref="FinishReason.None"/> with <see cref="Failed"/> = an engine error).</summary>
    public FinishReason[] Finish { get; private set; } = [];
    public bool Failed { get; private set; }
    public long End { get; set; }
    /// <summary>UTF-8 prompt text, at most <see cref="RequestLog.MaxPromptBytes"/>; null unless --log-prompts.</summary>
    public byte[]? Prompt { get; set; }
    public bool PromptTruncated { get; set; }
    /// <summary>The first 8 bytes of the SHA-256 of the request's <c>prompt_cache_key</c>, in hex; null when absent. A
    /// digest, not the key: keys are often user or session ids, and a digest still shows which requests shared one.</summary>
    public string? CacheKey { get; set; }

    public static string Digest(ReadOnlySpan<byte> raw)
    {
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(raw, hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    public void RecordGeneration(in CompletionUsage usage, FinishReason[] finish, bool failed, long firstToken, long lastToken)
    {
        Generated = true;
        PromptTokens = usage.PromptTokens;
        CachedTokens = usage.CachedTokens;
        CompletionTokens = usage.CompletionTokens;
        ReasoningTokens = usage.ReasoningTokens;
        Finish = finish;
        Failed = failed;
        FirstToken = firstToken;
        LastToken = lastToken;
    }

    public static double Milliseconds(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Decode speed: tokens after the first over the time since the first (null when under two tokens).</summary>
    public double? TokensPerSecond =>
        CompletionTokens >= 2 && LastToken > FirstToken && FirstToken != 0
            ? (CompletionTokens - 1) * (double)Stopwatch.Frequency / (LastToken - FirstToken)
            : null;
}
