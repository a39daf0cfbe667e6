namespace OnnxLm.Load.Workloads;

/// <summary>
/// A sequence of dependent requests run one after another by one client: one request for most workloads, a growing chat
/// for multi-turn. <see cref="TryNext"/> gets the previous request's answer text (null for the first request or when the
/// previous request failed).
/// </summary>
public abstract class Session
{
    public abstract bool TryNext(string? previousAnswer, out RequestPlan plan);
}
