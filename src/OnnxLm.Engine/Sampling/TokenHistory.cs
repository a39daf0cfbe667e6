// Invariant: entries [0, Count) hold each distinct token seen (prompt or generated) exactly once, in first-seen
// order, with how many times it was *generated*; _slots is an open-addressing (linear probe) index over them
// holding entry index + 1 (0 = empty) and is never more than half full. Clear touches only the occupied slots,
// so resetting after a short request costs O(distinct tokens), not O(vocabulary).
using System.Numerics;
using System.Runtime.CompilerServices;

namespace OnnxLm.Engine.Sampling;

/// <summary>Sparse token occurrence counts for repetition/presence/frequency penalties.</summary>
internal sealed class TokenHistory
{
    private int[] slots;
    private int[] ids;
    private int[] generated;
    private int[] slotOf; // where entry i lives in _slots, so Clear need not re-probe
    private int count;

    public TokenHistory(int initialDistinct = 256)
    {
        // Powers of two throughout, so the slot table (twice the entries) can be indexed with a mask.
        int entries = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, initialDistinct));
        slots = new int[entries * 2];
        ids = new int[entries];
        generated = new int[entries];
        slotOf = new int[entries];
    }

    public int Count => count;
    public ReadOnlySpan<int> Ids => ids.AsSpan(0, count);
    public ReadOnlySpan<int> GeneratedCounts => generated.AsSpan(0, count);

    public void Clear()
    {
        // Wiping a few occupied slots beats Array.Clear of the whole table unless the table is mostly in use.
        if (count * 8 < slots.Length)
        {
            foreach (int slot in slotOf.AsSpan(0, count))
                slots[slot] = 0;
        }
        else
        {
            Array.Clear(slots);
        }
        count = 0;
    }

    /// <summary>Marks the token as seen (prompt) without counting it as generated.</summary>
    public void AddSeen(int token) => GetOrAdd(token);

    /// <summary>Counts one generation of the token.</summary>
    public void AddGenerated(int token)
    {
        // Not `_generated[GetOrAdd(token)]++`: C# would load the array before GetOrAdd could replace it by growing.
        int entry = GetOrAdd(token);
        generated[entry]++;
    }

    /// <summary>Times the token was generated, or -1 if it was never seen at all.</summary>
    public int GeneratedCountOf(int token)
    {
        int mask = slots.Length - 1;
        for (int slot = Hash(token) & mask; ; slot = (slot + 1) & mask)
        {
            int e = slots[slot] - 1;
            if (e < 0) return -1;
            if (ids[e] == token) return generated[e];
        }
    }

    private int GetOrAdd(int token)
    {
        int mask = slots.Length - 1;
        int slot = Hash(token) & mask;
        while (true)
        {
            int e = slots[slot] - 1;
            if (e < 0) break;
            if (ids[e] == token) return e;
            slot = (slot + 1) & mask;
        }

        if (count == ids.Length)
        {
            // Growth allocates, but only until the pooled instance has seen its largest request.
            Grow();
            return GetOrAdd(token);
        }
        int entry = count++;
        ids[entry] = token;
        generated[entry] = 0;
        slotOf[entry] = slot;
        slots[slot] = entry + 1;
        return entry;
    }

    private void Grow()
    {
        int entries = ids.Length * 2;
        Array.Resize(ref ids, entries);
        Array.Resize(ref generated, entries);
        Array.Resize(ref slotOf, entries);
        slots = new int[entries * 2];
        int mask = slots.Length - 1;
        for (int e = 0; e < count; e++)
        {
            int slot = Hash(ids[e]) & mask;
            while (slots[slot] != 0) slot = (slot + 1) & mask;
            slots[slot] = e + 1;
            slotOf[e] = slot;
        }
    }

    // Fibonacci hashing: token ids are small dense integers, so multiply-and-take-high-bits spreads neighbours.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(int token) => (int)(((uint)token * 0x9E3779B1u) >> 7);
}
