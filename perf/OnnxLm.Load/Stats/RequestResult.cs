namespace OnnxLm.Load.Stats;

/// <summary>
/// Measurements of one request. Times are milliseconds; <see cref="StartMs"/> is relative to the run's start.
/// Token counts are -1 when unknown. <see cref="OutputTokens"/> comes from the usage chunk when the server sent one,
/// otherwise it is the number of chunks that carried text.
/// </summary>
public sealed class RequestResult
{
    public bool Ok { get; set; }
    public string? Error { get; set; }
    public double StartMs { get; set; }
    public double TtftMs { get; set; } = double.NaN;
    public double E2eMs { get; set; }
    public int OutputTokens { get; set; }
    public int TextChunks { get; set; }
    public bool UsageReported { get; set; }
    public int PromptTokens { get; set; } = -1;
    public int CachedTokens { get; set; } = -1;

    /// <summary>Gaps between consecutive text chunks, in arrival order (ms).</summary>
    public List<double> InterTokenMs { get; } = [];

    /// <summary>The streamed text, kept only when the plan asked for it.</summary>
    public string? Text { get; set; }

    /// <summary>Mean time per output token after the first: (E2E − TTFT) / (tokens − 1); NaN with fewer than 2 tokens.</summary>
    public double TpotMs => Ok && OutputTokens > 1 && !double.IsNaN(TtftMs) ? (E2eMs - TtftMs) / (OutputTokens - 1) : double.NaN;
}
