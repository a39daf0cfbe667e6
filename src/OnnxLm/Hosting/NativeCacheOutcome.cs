namespace OnnxLm.Hosting;

/// <summary>What <see cref="NativeLibraryCache.Ensure"/> had to do.</summary>
internal enum NativeCacheOutcome
{
    /// <summary>The directory was intact by the cheap check (stamp, sizes, modification times).</summary>
    Reused,
    /// <summary>Times differed, so every file was re-hashed; all matched and the stamp was refreshed.</summary>
    Verified,
    /// <summary>No directory yet: extracted.</summary>
    Extracted,
    /// <summary>The directory was incomplete or altered: replaced by a fresh extraction.</summary>
    Replaced,
}
