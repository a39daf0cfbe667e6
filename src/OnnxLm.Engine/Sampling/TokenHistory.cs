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
    private int[] _slots;
    private int[] _ids;
    private int[] _generated;
    private int[] _slotOf; // where entry i lives in _slots, so Clear need not re-probe
    private int _count;

    public TokenHistory(int initialDistinct = 256)
    {
        // Powers of two throughout, so the slot table (twice the entries) can be indexed with a mask.
        int entries = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, initialDistinct));
        _slots = new int[entries * 2];
        _ids = new int[entries];
        _generated = new int[entries];
        _slotOf = new int[entries];
    }

    public int Count => _count;
    public ReadOnlySpan<int> Ids => _ids.AsSpan(0, _count);
    public ReadOnlySpan<int> GeneratedCounts => _generated.AsSpan(0, _count);

    public void Clear()
    {
        // Wiping a few occupied slots beats Array.Clear of the whole table unless the table is mostly in use.
        if (_count * 8 < _slots.Length)
        {
            foreach (int slot in _slotOf.AsSpan(0, _count))
                _slots[slot] = 0;
        }
        else
        {
            Array.Clear(_slots);
        }
        _count = 0;
    }

    /// <summary>Marks the token as seen (prompt) without counting it as generated.</summary>
    public void AddSeen(int token) => GetOrAdd(token);

    /// <summary>Counts one generation of the token.</summary>
    public void AddGenerated(int token)
    {
        // Not `_generated[GetOrAdd(token)]++`: C# would load the array before GetOrAdd could replace it by growing.
        int entry = GetOrAdd(token);
        _generated[entry]++;
    }

    /// <summary>Times the token was generated, or -1 if it was never seen at all.</summary>
    public int GeneratedCountOf(int token)
    {
        int mask = _slots.Length - 1;
        for (int slot = Hash(token) & mask; ; slot = (slot + 1) & mask)
        {
            int e = _slots[slot] - 1;
            if (e < 0) return -1;
            if (_ids[e] == token) return _generated[e];
        }
    }

    private int GetOrAdd(int token)
    {
        int mask = _slots.Length - 1;
        int slot = Hash(token) & mask;
        while (true)
        {
            int e = _slots[slot] - 1;
            if (e < 0) break;
            if (_ids[e] == token) return e;
            slot = (slot + 1) & mask;
        }

        if (_count == _ids.Length)
        {
            // Growth allocates, but only until the pooled instance has seen its largest request.
            Grow();
            return GetOrAdd(token);
        }
        int entry = _count++;
        _ids[entry] = token;
        _generated[entry] = 0;
        _slotOf[entry] = slot;
        _slots[slot] = entry + 1;
        return entry;
    }

    private void Grow()
    {
        int entries = _ids.Length * 2;
        Array.Resize(ref _ids, entries);
        Array.Resize(ref _generated, entries);
        Array.Resize(ref _slotOf, entries);
        _slots = new int[entries * 2];
        int mask = _slots.Length - 1;
        for (int e = 0; e < _count; e++)
        {
            int slot = Hash(_ids[e]) & mask;
            while (_slots[slot] != 0) slot = (slot + 1) & mask;
            _slots[slot] = e + 1;
            _slotOf[e] = slot;
        }
    }

    // Fibonacci hashing: token ids are small dense integers, so multiply-and-take-high-bits spreads neighbours.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(int token) => (int)(((uint)token * 0x9E3779B1u) >> 7);
}
