using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Tests.Conformance;

/// <summary>Waits until an engine holds no request: nothing running, nothing queued, every slot row unowned. The timeout
/// is a hang guard (a leaked row never frees), not a timing assertion.</summary>
internal static class EngineIdle
{
    public static bool IsIdle(InferenceEngine engine)
    {
        if (engine.ActiveSequences != 0 || engine.WaitingRequests != 0) return false;
        foreach (long owner in engine.RowOwners())
            if (owner != 0) return false;
        return true;
    }

    public static async Task WaitAsync(InferenceEngine engine, string why, int timeoutMs = 30_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!IsIdle(engine))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"engine not idle after {timeoutMs} ms ({why}): active {engine.ActiveSequences}, waiting {engine.WaitingRequests}, rows [{string.Join(", ", engine.RowOwners())}]");
            await Task.Delay(5);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; throws naming <paramref name="what"/> after the hang guard.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, int timeoutMs = 30_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting until " + what);
            await Task.Delay(2);
        }
    }
}
