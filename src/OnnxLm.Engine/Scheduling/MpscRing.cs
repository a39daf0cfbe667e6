// Design: bounded lock-free multi-producer single-consumer ring (Vyukov's per-slot sequence scheme).
// Invariant: slot i holds an item for position p (p & mask == i) exactly when slot.Sequence == p + 1; it is free for
// position p when slot.Sequence == p. Producers claim a position with one CAS on the tail, write the item, then publish
// it with a release store of the sequence; the consumer frees the slot with sequence = p + capacity. The per-slot
// sequence replaces cross-index reads: producers never read the head and the consumer never reads the tail, so each side
// only touches its own index line plus the slot it works on. A producer preempted between claim and publish makes the
// consumer see "empty" at that slot until it publishes (it then signals), so order per producer is kept and nothing is
// skipped.
using System.Runtime.CompilerServices;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Bounded lock-free ring for many producers (HTTP handlers) and one consumer (the engine thread).
/// <see cref="TryEnqueue"/> never blocks; <see cref="TryDequeue"/> must only be called from the single consumer thread.
/// </summary>
public sealed class MpscRing<T> where T : struct
{
    private struct Slot
    {
        public long Sequence;
        public T Item;
    }

    private readonly Slot[] slots;
    private readonly long mask;
    // Producer = tail (next position to claim, CAS by producers); Consumer = head (consumer-owned).
    private RingIndexPadding indices;

    /// <param name="capacity">Number of slots; must be a power of two ≥ 2.</param>
    public MpscRing(int capacity)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Capacity must be a power of two >= 2.");
        slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++) slots[i].Sequence = i;
        mask = capacity - 1;
    }

    public int Capacity => slots.Length;

    /// <summary>Approximate number of queued items (exact only when no producer or consumer is active).</summary>
    public int Count
    {
        get
        {
            // Read head first: head only grows, so tail read later is ≥ the tail at that time and the difference never
            // goes negative except through claimed-but-unpublished slots, which we count as queued.
            long head = Volatile.Read(ref indices.Consumer);
            long tail = Volatile.Read(ref indices.Producer);
            long n = tail - head;
            return n <= 0 ? 0 : n >= slots.Length ? slots.Length : (int)n;
        }
    }

    /// <summary>Adds an item; returns false when the ring is full. Safe from any number of threads.</summary>
    public bool TryEnqueue(in T item)
    {
        Slot[] cells = slots;
        long pos = Volatile.Read(ref indices.Producer);
        while (true)
        {
            ref Slot slot = ref cells[pos & mask];
            // Acquire: pairs with the consumer's release when it freed this slot, so our item write cannot overtake it.
            long diff = Volatile.Read(ref slot.Sequence) - pos;
            if (diff == 0)
            {
                long seen = Interlocked.CompareExchange(ref indices.Producer, pos + 1, pos);
                if (seen == pos)
                {
                    slot.Item = item;
                    // Release: the item is visible before the consumer can observe the new sequence (ARM64 needs it).
                    Volatile.Write(ref slot.Sequence, pos + 1);
                    return true;
                }
                pos = seen; // lost the race: retry at the position the winner left
            }
            else if (diff < 0)
            {
                return false; // slot still holds the item from one lap ago: full
            }
            else
            {
                pos = Volatile.Read(ref indices.Producer); // another producer already took pos
            }
        }
    }

    /// <summary>Takes the oldest published item. Single consumer only.</summary>
    public bool TryDequeue(out T item)
    {
        long pos = indices.Consumer;
        ref Slot slot = ref slots[pos & mask];
        // Acquire: pairs with the producer's release of the sequence, so the item read below is the published one.
        if (Volatile.Read(ref slot.Sequence) != pos + 1)
        {
            item = default;
            return false;
        }
        item = slot.Item;
        // Drop references so a consumed item does not keep objects alive for a whole lap.
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>()) slot.Item = default;
        // Release: our read of the item completes before a producer may reuse the slot.
        Volatile.Write(ref slot.Sequence, pos + slots.Length);
        Volatile.Write(ref indices.Consumer, pos + 1);
        return true;
    }
}
