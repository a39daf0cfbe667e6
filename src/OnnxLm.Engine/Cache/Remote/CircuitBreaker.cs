namespace OnnxLm.Engine.Cache.Remote;

/// <summary>The states of a <see cref="CircuitBreaker"/> (values as <c>/metrics</c> shows them).</summary>
public enum BreakerState
{
    /// <summary>The tier is used.</summary>
    Closed = 0,
    /// <summary>Skipped after repeated errors until the cool-down ends.</summary>
    Open = 1,
    /// <summary>One probe is in flight; its outcome closes or reopens the breaker.</summary>
    HalfOpen = 2,
}

/// <summary>
/// Skips a failing dependency: <see cref="FailureThreshold"/> consecutive failures open it; while open every
/// <see cref="TryAcquire"/> is refused until <see cref="OpenFor"/> has passed, then exactly one caller is let through as the
/// probe (half-open): its success closes the breaker, its failure opens it for another cool-down. Invariant: at most one
/// probe at a time; every transition is counted. Thread-safe.
/// </summary>
public sealed class CircuitBreaker(int failureThreshold, TimeSpan openFor, TimeProvider time)
{
    readonly Lock gate = new();
    BreakerState state;
    int consecutiveFailures;
    long reopenAt, opened, closed;

    public int FailureThreshold { get; } = failureThreshold;
    public TimeSpan OpenFor { get; } = openFor;

    public BreakerState State { get { lock (gate) return state; } }
    /// <summary>Times the breaker opened (from closed, or again after a failed probe).</summary>
    public long Opened { get { lock (gate) return opened; } }
    /// <summary>Times a successful probe closed it.</summary>
    public long Closed { get { lock (gate) return closed; } }

    /// <summary>Whether <see cref="TryAcquire"/> could succeed now (closed, or open with the cool-down over), without
    /// taking the probe: lets a caller skip work it would only throw away.</summary>
    public bool MayAcquire
    {
        get
        {
            lock (gate) return state == BreakerState.Closed || (state == BreakerState.Open && time.GetTimestamp() >= reopenAt);
        }
    }

    /// <summary>True when the caller may use the dependency now (closed, or it is the half-open probe).</summary>
    public bool TryAcquire()
    {
        lock (gate)
        {
            if (state == BreakerState.Closed) return true;
            if (state == BreakerState.Open && time.GetTimestamp() >= reopenAt)
            {
                state = BreakerState.HalfOpen;
                return true;
            }
            return false;
        }
    }

    public void Success()
    {
        lock (gate)
        {
            consecutiveFailures = 0;
            if (state == BreakerState.Closed) return;
            state = BreakerState.Closed;
            closed++;
        }
    }

    public void Failure()
    {
        lock (gate)
        {
            consecutiveFailures++;
            if (state == BreakerState.HalfOpen || (state == BreakerState.Closed && consecutiveFailures >= FailureThreshold))
            {
                state = BreakerState.Open;
                opened++;
                reopenAt = time.GetTimestamp() + (long)(OpenFor.TotalSeconds * time.TimestampFrequency);
            }
        }
    }

    /// <summary>A probe that ended without a verdict (cancelled, or the dependency was not asked): let another try.</summary>
    public void Release()
    {
        lock (gate)
            if (state == BreakerState.HalfOpen)
            {
                state = BreakerState.Open;
                reopenAt = time.GetTimestamp();
            }
    }
}
