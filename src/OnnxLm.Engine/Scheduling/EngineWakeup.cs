// Design: a wake-up permit for the engine thread (one consumer, many producers).
// Protocol: a producer publishes its work (e.g. MpscRing.TryEnqueue), then calls Signal(); the consumer drains all its
// sources, and when it found nothing calls Wait(). Invariant: after a Signal() returns, the consumer's next drain that
// starts after its next Wait() returns sees the producer's work (no lost wake-up). Two flags make it cheap:
//   pending  = "work was published since the consumer last cleared it" (the permit),
//   sleeping = "the consumer announced it is about to block".
// Signal() touches the kernel event only when the consumer announced sleep, so a busy engine costs producers one fence
// and one read of a shared line. Both sides use full fences (Dekker): producer "publish; fence; read pending/sleeping",
// consumer "clear pending or set sleeping; fence; re-read" — at least one side sees the other's store.
namespace OnnxLm.Engine.Scheduling;

/// <summary>Lets the engine thread sleep while idle and be woken by producers without lost wake-ups.</summary>
public sealed class EngineWakeup : IDisposable
{
    // Spin briefly before blocking: a request that arrives within microseconds should not pay a futex round trip.
    private readonly ManualResetEventSlim wakeEvent = new(false, spinCount: 20);
    private RingIndexPadding flags; // Flag0 = pending, Flag1 = sleeping (one rarely-written line, away from neighbours)

    /// <summary>Producer side: call after publishing work. No syscall unless the consumer is asleep or falling asleep.</summary>
    public void Signal()
    {
        // Store-load fence: our publish must be visible before we read the flags, or the consumer could clear pending,
        // miss our item and sleep while we skip because we read the old pending = 1.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref flags.Flag0) != 0)
            return; // a permit is outstanding: the consumer will drain after clearing it, and that drain sees our item
        if (Interlocked.Exchange(ref flags.Flag0, 1) == 0 && Volatile.Read(ref flags.Flag1) != 0)
            wakeEvent.Set();
    }

    /// <summary>
    /// Consumer side: call after a drain found no work. Returns at once if a producer signalled since the last return,
    /// otherwise sleeps up to <paramref name="timeoutMs"/>. Returns false only when the timeout elapsed with no signal.
    /// The caller must drain again after every return (spurious returns are possible and harmless).
    /// </summary>
    public bool Wait(int timeoutMs)
    {
        // Clearing with a full fence orders the clear before the caller's next drain (see Signal).
        if (Interlocked.Exchange(ref flags.Flag0, 0) != 0)
            return true;

        Interlocked.Exchange(ref flags.Flag1, 1); // announce sleep; full fence before re-reading the permit
        bool signalled;
        if (Volatile.Read(ref flags.Flag0) != 0)
        {
            signalled = true; // a producer slipped in between the clear and the announcement
        }
        else
        {
            signalled = wakeEvent.Wait(timeoutMs);
        }
        Volatile.Write(ref flags.Flag1, 0);
        // Reset before clearing the permit: a Set racing with this Reset is covered by its producer's permit below.
        wakeEvent.Reset();
        return Interlocked.Exchange(ref flags.Flag0, 0) != 0 || signalled;
    }

    public void Dispose() => wakeEvent.Dispose();
}
