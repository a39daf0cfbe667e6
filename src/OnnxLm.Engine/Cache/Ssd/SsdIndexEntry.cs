namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>What the tier knows about one block file without opening it. The file name derives from hash and parent.</summary>
internal struct SsdIndexEntry(UInt128 parent, long size, long lastUseTicks)
{
    public UInt128 Parent = parent;
    public long Size = size;
    /// <summary>UTC ticks of the last write or successful read (LRU and TTL order).</summary>
    public long LastUseTicks = lastUseTicks;
}
