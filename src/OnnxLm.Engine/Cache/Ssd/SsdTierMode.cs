namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>What the SSD tier may do in this process.</summary>
public enum SsdTierMode
{
    /// <summary>Off: the directory is missing, uncreatable or unusable (one warning was logged). Every call is a miss.</summary>
    Disabled,
    /// <summary>Lookups and reads only: another process holds the lock, or the directory is not writable.</summary>
    ReadOnly,
    /// <summary>This process holds the lock: it writes, prunes and saves the index.</summary>
    ReadWrite,
}
