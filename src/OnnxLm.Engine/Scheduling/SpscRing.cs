// Design: bounded single-producer (engine thread) single-consumer (one HTTP handler, async) ring.
// Indices: Producer = tail, Consumer = head, each on its own 128-byte line; each side keeps a stale copy of the other's
// index (ProducerCache = head seen by the producer, ConsumerCache = tail seen by the consumer) and re-reads the real one
// only when the stale copy says full/empty, so in steady state neither side pulls the other's line per item.
// Items [head, tail) are published; the producer writes the slot, then release-stores tail; the consumer reads the slot,
// then release-stores head.
// Async wait: one reusable IValueTaskSource (ManualResetValueTaskSourceCore) and a wait state NotWaiting -> Waiting ->
// (Completing -> NotWaiting | NotWaiting). The consumer arms with a full fence and re-checks the ring; the producer
// publishes, fences, and completes the wait only if it wins the CAS Waiting -> Completing. Whoever wins (a write,
// Complete, cancellation, or the consumer's own re-check, which disarms Waiting -> NotWaiting) settles the wait exactly
// once. The Completing state exists because a consumer may observe the core as completed while the waker is still inside
// SetResult; it must not Reset the core for its next wait until the waker has left. A producer delayed between its
// publish and its CAS may wake a later wait whose items were already read: the result is then a spurious true, so readers
// loop on TryRead. Continuations run asynchronously so the engine thread never runs handler code.
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Per-request event stream from the engine thread to one HTTP handler. Writes never block; the reader awaits with
/// <see cref="WaitToReadAsync"/>, which allocates nothing in steady state. At most one wait may be outstanding.
/// </summary>
public sealed class SpscRing<T> : IValueTaskSource<bool> where T : struct
{
    private const int NotWaiting = 0;
    private const int Waiting = 1;
    private const int Completing = 2;

    private readonly T[] slots;
    private readonly long mask;
    // Producer = tail, ProducerCache = stale head; Consumer = head, ConsumerCache = stale tail;
    // Flag0 = waiting, Flag1 = completed.
    private RingIndexPadding indices;
    private ManualResetValueTaskSourceCore<bool> core;
    private CancellationToken waitToken;
    private CancellationTokenRegistration waitRegistration;

    private static readonly Action<object?> s_onCanceled = static state => ((SpscRing<T>)state!).OnWaitCanceled();

    /// <param name="capacity">Number of slots; must be a power of two ≥ 2. The engine sizes it so it never fills.</param>
    public SpscRing(int capacity)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Capacity must be a power of two >= 2.");
        slots = new T[capacity];
        mask = capacity - 1;
        core.RunContinuationsAsynchronously = true;
    }

    public int Capacity => slots.Length;

    /// <summary>Approximate number of unread items.</summary>
    public int Count
    {
        get
        {
            long head = Volatile.Read(ref indices.Consumer);
            long tail = Volatile.Read(ref indices.Producer);
            long n = tail - head;
            return n <= 0 ? 0 : (int)n;
        }
    }

    /// <summary>True while a <see cref="WaitToReadAsync"/> is armed and not yet completed (tests use it to force the async path).</summary>
    internal bool IsReaderWaiting => Volatile.Read(ref indices.Flag0) == Waiting;

    /// <summary>True once the producer called <see cref="Complete"/> (items may still be unread).</summary>
    public bool IsCompleted => Volatile.Read(ref indices.Flag1) != 0;

    // ---------------------------------------------------------------- producer (engine thread)

    /// <summary>Producer: appends an item; false when full (the engine treats that as a sizing bug).</summary>
    public bool TryWrite(in T item)
    {
        long tail = indices.Producer;
        if (tail - indices.ProducerCache >= slots.Length)
        {
            // Stale head says full: refresh it (acquire pairs with the consumer's release of head).
            indices.ProducerCache = Volatile.Read(ref indices.Consumer);
            if (tail - indices.ProducerCache >= slots.Length)
                return false;
        }
        slots[tail & mask] = item;
        Volatile.Write(ref indices.Producer, tail + 1); // release: the item is visible before the new tail
        WakeReader();
        return true;
    }

    /// <summary>Producer: no more items will be written. Wakes a waiting reader.</summary>
    public void Complete()
    {
        Volatile.Write(ref indices.Flag1, 1);
        WakeReader();
    }

    private void WakeReader()
    {
        // Store-load fence (Dekker with the consumer's arming): either we see waiting = 1, or the consumer's re-check
        // after arming sees our tail/completed store.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref indices.Flag0) == Waiting &&
            Interlocked.CompareExchange(ref indices.Flag0, Completing, Waiting) == Waiting)
        {
            // After a write: true (possibly spurious, see Design). Once completed, false exactly when drained, which is
            // final because nothing more will be written.
            core.SetResult(!IsCompleted || HasUnread());
            Volatile.Write(ref indices.Flag0, NotWaiting);
        }
    }

    // ---------------------------------------------------------------- consumer (HTTP handler)

    /// <summary>Consumer: takes the oldest item, if any.</summary>
    public bool TryRead(out T item)
    {
        long head = indices.Consumer;
        if (head == indices.ConsumerCache)
        {
            // Stale tail says empty: refresh it (acquire pairs with the producer's release of tail).
            indices.ConsumerCache = Volatile.Read(ref indices.Producer);
            if (head == indices.ConsumerCache)
            {
                item = default;
                return false;
            }
        }
        ref T slot = ref slots[head & mask];
        item = slot;
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) slot = default;
        Volatile.Write(ref indices.Consumer, head + 1); // release: the slot read completes before the producer reuses it
        return true;
    }

    /// <summary>
    /// Consumer: completes with true when an item can be read (rarely spuriously: loop on <see cref="TryRead"/> and wait
    /// again), with false when the ring is completed and drained.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires first; a later
    /// wait still works. Only one wait may be outstanding, and its result must be awaited before the next call.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
    {
        if (HasUnread()) return new ValueTask<bool>(true);
        // Completed is written after the last item, so read it first and then re-check for items.
        if (IsCompleted) return new ValueTask<bool>(HasUnread());
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<bool>(cancellationToken);

        // The previous waker may still be inside SetResult (see Design); it leaves within a few instructions.
        if (Volatile.Read(ref indices.Flag0) == Completing) WaitForWakerToLeave();
        core.Reset();
        waitToken = cancellationToken;
        Interlocked.Exchange(ref indices.Flag0, Waiting); // arm; full fence before the re-check below

        if (HasUnread() || IsCompleted)
        {
            // Something arrived between the first check and arming: disarm ourselves if the producer has not yet.
            if (Interlocked.CompareExchange(ref indices.Flag0, NotWaiting, Waiting) == Waiting)
                return new ValueTask<bool>(HasUnread());
            // else the producer won and is completing core: fall through and return the pending wait.
        }
        else if (cancellationToken.CanBeCanceled)
        {
            // UnsafeRegister: no ExecutionContext capture; registration nodes are recycled by the token source, so a
            // register/dispose pair per wait does not allocate in steady state.
            waitRegistration = cancellationToken.UnsafeRegister(s_onCanceled, this);
        }
        return new ValueTask<bool>(this, core.Version);
    }

    private void OnWaitCanceled()
    {
        if (Interlocked.CompareExchange(ref indices.Flag0, Completing, Waiting) == Waiting)
        {
            core.SetException(new OperationCanceledException(waitToken));
            Volatile.Write(ref indices.Flag0, NotWaiting);
        }
    }

    private void WaitForWakerToLeave()
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref indices.Flag0) == Completing) spin.SpinOnce();
    }

    private bool HasUnread() => Volatile.Read(ref indices.Producer) != Volatile.Read(ref indices.Consumer);

    // ---------------------------------------------------------------- pooling

    /// <summary>
    /// Returns the ring to its initial state for reuse. Only when both sides are done with it (the producer completed,
    /// the consumer stopped reading and has no wait outstanding).
    /// </summary>
    public void Reset()
    {
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) Array.Clear(slots);
        indices = default;
        waitToken = default;
        waitRegistration = default;
        core.Reset(); // bumps the version, so a stale ValueTask from the previous use fails instead of misreading
    }

    // ---------------------------------------------------------------- IValueTaskSource

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        // Dispose waits for a running cancellation callback, so it cannot touch core after the next wait resets it.
        waitRegistration.Dispose();
        waitRegistration = default;
        waitToken = default;
        return core.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => core.OnCompleted(continuation, state, token, flags);
}
