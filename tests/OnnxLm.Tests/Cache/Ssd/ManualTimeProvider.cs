namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>A clock tests move by hand (TTL and LRU order).</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    long ticks = start.UtcTicks;
    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref ticks), TimeSpan.Zero);
    public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
}
