using System.Diagnostics;
using System.Globalization;

namespace OnnxLm.Load.Running;

/// <summary>
/// Prints run progress to stderr once a second: rewriting one line on a terminal, one line every 5 s when stderr is
/// redirected (logs stay readable). Counters are updated by the runner with Interlocked and read here without locks;
/// a slightly stale line is fine.
/// </summary>
public sealed class ProgressReporter : IAsyncDisposable
{
    readonly string label;
    readonly int total;
    readonly long start = Stopwatch.GetTimestamp();
    readonly bool redirected = Console.IsErrorRedirected;
    readonly CancellationTokenSource stop = new();
    readonly Task loop;
    int started;
    int completed;
    int failed;
    long outputTokens;

    public ProgressReporter(string label, int total)
    {
        this.label = label;
        this.total = total;
        loop = RunAsync();
    }

    public void OnStarted() => Interlocked.Increment(ref started);

    public void OnCompleted(bool ok, int tokens)
    {
        Interlocked.Increment(ref completed);
        if (!ok) Interlocked.Increment(ref failed);
        Interlocked.Add(ref outputTokens, tokens);
    }

    async Task RunAsync()
    {
        int tick = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                tick++;
                if (!redirected) Console.Error.Write("\r" + Line() + "   ");
                else if (tick % 5 == 0) Console.Error.WriteLine(Line());
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    string Line()
    {
        double s = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int done = Volatile.Read(ref completed);
        string of = total > 0 ? "/" + total.ToString(CultureInfo.InvariantCulture) : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"[{label}] {s,6:0.0}s  done {done}{of}  in flight {Volatile.Read(ref started) - done}  failed {Volatile.Read(ref failed)}  out {Volatile.Read(ref outputTokens) / Math.Max(s, 1e-9),7:0.0} tok/s");
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await loop.ConfigureAwait(false);
        if (!redirected) Console.Error.Write("\r" + Line() + "   \n");
        else Console.Error.WriteLine(Line());
        stop.Dispose();
    }
}
