namespace OnnxLm.Load.Workloads;

/// <summary>
/// Produces sessions for the runner. Calls to <see cref="NextSession"/> are serialized by the base class, so
/// implementations may use one seeded <see cref="Random"/> and stay reproducible for a given seed and arrival order.
/// </summary>
public abstract class Workload
{
    readonly Lock gate = new();

    public abstract string Name { get; }

    /// <summary>One-line description of the parameters, for reports.</summary>
    public abstract string Describe();

    /// <summary>The next session, or null when the workload is exhausted (replay without looping).</summary>
    public Session? NextSession()
    {
        lock (gate) return CreateSession();
    }

    protected abstract Session? CreateSession();
}
