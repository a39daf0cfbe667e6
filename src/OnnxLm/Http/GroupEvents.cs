using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// Reads the event rings of the <c>n</c> requests of one completion as one stream. With one request it forwards to the
/// ring (no allocation per wait); with several it keeps at most one outstanding wait per ring (the ring's contract) and
/// waits for any of them. Invariant: <see cref="WaitAsync"/> returns false only when every ring is completed and drained.
/// </summary>
internal sealed class GroupEvents(GenerationRequest[] group)
{
    readonly Task<bool>?[] pending = new Task<bool>?[group.Length];
    readonly bool[] drained = new bool[group.Length];
    int cursor;

    public int Count => group.Length;

    /// <summary>The next event of any member, taking members round-robin so one long choice cannot starve the others.</summary>
    public bool TryRead(out int member, out TokenEvent ev)
    {
        int n = group.Length;
        for (int k = 0; k < n; k++)
        {
            int i = cursor + k;
            if (i >= n) i -= n;
            if (group[i].Events.TryRead(out ev))
            {
                member = i;
                cursor = i + 1 == n ? 0 : i + 1;
                return true;
            }
        }
        member = -1;
        ev = default;
        return false;
    }

    public ValueTask<bool> WaitAsync(CancellationToken ct) =>
        group.Length == 1 ? group[0].Events.WaitToReadAsync(ct) : new ValueTask<bool>(WaitAnyAsync(ct));

    async Task<bool> WaitAnyAsync(CancellationToken ct)
    {
        bool anyLive = false;
        for (int i = 0; i < group.Length; i++)
        {
            if (drained[i]) continue;
            if (pending[i] is { IsCompleted: true } done)
            {
                pending[i] = null;
                if (!await done)
                {
                    drained[i] = true;
                    continue;
                }
                return true;
            }
            if (pending[i] is null)
            {
                var wait = group[i].Events.WaitToReadAsync(ct);
                if (wait.IsCompleted)
                {
                    if (!wait.Result)
                    {
                        drained[i] = true;
                        continue;
                    }
                    return true;
                }
                pending[i] = wait.AsTask();
            }
            anyLive = true;
        }
        if (!anyLive) return false;
        var live = new List<Task<bool>>(group.Length);
        foreach (var p in pending)
            if (p is not null) live.Add(p);
        await Task.WhenAny(live);
        return true;   // the caller reads what arrived, then waits again (which collects the finished wait)
    }

    /// <summary>Waits for outstanding ring waits to end (after cancelling), so no wait outlives the response.</summary>
    public async Task SettleAsync()
    {
        foreach (var p in pending)
        {
            if (p is null) continue;
            try { await p; }
            catch (OperationCanceledException) { }
        }
    }
}
