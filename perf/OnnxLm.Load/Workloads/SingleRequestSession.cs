namespace OnnxLm.Load.Workloads;

/// <summary>A session of exactly one request.</summary>
public sealed class SingleRequestSession(RequestPlan plan) : Session
{
    bool taken;

    public override bool TryNext(string? previousAnswer, out RequestPlan next)
    {
        next = plan;
        if (taken) return false;
        taken = true;
        return true;
    }
}
