namespace OnnxLm.Hosting;

/// <summary>The verified directory holding the native libraries, and what it took to get there.</summary>
/// <param name="Problem">For <see cref="NativeCacheOutcome.Replaced"/>: what was wrong with the old directory.</param>
internal readonly record struct NativeCacheResult(string Directory, NativeCacheOutcome Outcome, string? Problem = null);
