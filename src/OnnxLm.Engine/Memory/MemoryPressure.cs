namespace OnnxLm.Engine.Memory;

/// <summary>
/// Admission under memory pressure: new requests are refused (503 + Retry-After) while the machine's available memory
/// is below <see cref="MinAvailableBytes"/>, the reserve the start-up arithmetic kept for the OS, so the server backs
/// off before the machine swaps. Cheap on every request: the probe is read at most once per <see cref="IntervalMs"/>
/// (one thread refreshes, the others use the last figure), and a probe that gives no figure never refuses anything.
/// </summary>
public sealed class MemoryPressure(IMemoryProbe probe, long minAvailableBytes, int intervalMs = 250)
{
    long nextCheck = long.MinValue;
    long lastAvailable = -1;
    int refreshing;

    public IMemoryProbe Probe { get; } = probe;
    public long MinAvailableBytes { get; } = minAvailableBytes;
    public int IntervalMs { get; } = intervalMs;

    /// <summary>The available memory at the last probe read, or -1 before the first (or when the probe has no figure).</summary>
    public long LastAvailableBytes => Interlocked.Read(ref lastAvailable);

    /// <summary>True when the last reading (refreshed if older than the interval) is below the minimum.</summary>
    public bool IsShort() => IsShort(Environment.TickCount64);

    /// <param name="nowMs">The clock (milliseconds), injectable so a test needs no sleeps.</param>
    public bool IsShort(long nowMs)
    {
        if (nowMs >= Volatile.Read(ref nextCheck) && Interlocked.CompareExchange(ref refreshing, 1, 0) == 0)
        {
            try
            {
                long available = Probe.Read() is { } s ? s.AvailableBytes : -1;
                Interlocked.Exchange(ref lastAvailable, available);
                Volatile.Write(ref nextCheck, nowMs + IntervalMs);
            }
            finally
            {
                Volatile.Write(ref refreshing, 0);
            }
        }
        long last = Interlocked.Read(ref lastAvailable);
        return last >= 0 && last < MinAvailableBytes;
    }
}
