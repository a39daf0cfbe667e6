namespace OnnxLm.Hub;

/// <summary>How pulls talk to the network: retries, back-off, stall detection, parallelism, and where notes go.</summary>
internal sealed record HubTransferOptions
{
    /// <summary>Attempts per request (the first included) for 429/5xx answers and broken connections without progress.</summary>
    public int MaxAttempts { get; init; } = 8;
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>A <c>Retry-After</c> longer than this is cut to it.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>No byte for this long and the connection is dropped and resumed.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Files downloaded at once.</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Retries, stalls and waits, for the user.</summary>
    public Action<string>? Note { get; init; }
    /// <summary>Free bytes where blobs are written (tests override it to simulate a full disk).</summary>
    public Func<string, long>? FreeSpace { get; init; }
}
