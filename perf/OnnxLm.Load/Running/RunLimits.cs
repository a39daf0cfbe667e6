namespace OnnxLm.Load.Running;

/// <summary>When a run stops issuing requests: after <see cref="MaxRequests"/> requests or after
/// <see cref="Duration"/>, whichever comes first (at least one is set). Requests in flight are always finished.</summary>
public readonly record struct RunLimits(int MaxRequests, TimeSpan? Duration);
