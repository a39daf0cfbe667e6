using System.Diagnostics;
using OnnxLm.Engine.Model;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Which sequence owns which KV slot row, and what a free row still holds.
/// Invariant: rows in one run are contiguous. Decode rows are [0, <see cref="DecodeCount"/>) with rows[i].Row == i; a
/// prefill group's rows lie at or above DecodeCount; a retiring decode row is replaced by the last decode row (its KV
/// copied), so the decode batch never has a hole (ORT binds one contiguous view of rows per run: docs/ENGINE.md §3).
/// A free row keeps the tokens of the KV it holds (row affinity: a follow-up turn that extends them reuses the row in
/// place); a row owned by a sequence, or one a failed run may have half-written, keeps none. Engine thread only.
/// </summary>
internal sealed class SlotRowTable
{
    readonly Sequence?[] rows;
    readonly ModelRunner runner;
    readonly bool keepResident;
    // What a free row still holds: KV of residentTokens[r][0..residentLength[r]).
    readonly int[]?[] residentTokens;
    readonly int[] residentLength;

    /// <param name="keepResident">Row affinity is the sequence-level half of the prefix cache: off together with it.</param>
    public SlotRowTable(ModelRunner runner, int slots, bool keepResident)
    {
        this.runner = runner;
        this.keepResident = keepResident;
        rows = new Sequence?[slots];
        residentTokens = new int[]?[slots];
        residentLength = new int[slots];
    }

    public int Count => rows.Length;
    /// <summary>Rows [0, DecodeCount) decode together in one run.</summary>
    public int DecodeCount { get; private set; }
    public Sequence? this[int row] => rows[row];

    /// <summary>Gives <paramref name="row"/> (free) to <paramref name="seq"/>; whatever KV it held is now the sequence's.</summary>
    public void Claim(Sequence seq, int row)
    {
        Debug.Assert(rows[row] is null);
        SetResident(row, null, 0);
        seq.Row = row;
        rows[row] = seq;
    }

    /// <summary>Copies the first <paramref name="length"/> KV positions of one row into another.</summary>
    public void CopyKv(int from, int to, int length) => runner.CopyRow(from, to, length);

    /// <summary>Moves a sequence that finished prefilling (or was forked) to the end of the decode batch.</summary>
    public void JoinDecode(Sequence seq)
    {
        MoveToRow(seq, DecodeCount);
        DecodeCount++;
    }

    /// <summary>Removes decode row <paramref name="i"/>, moving the last decode row into the hole.</summary>
    public void RetireDecodeRow(int i)
    {
        var seq = rows[i]!;
        seq.Row = -1;
        int last = DecodeCount - 1;
        if (i != last)
        {
            var moved = rows[last]!;
            runner.CopyRow(last, i, moved.Length);
            moved.Row = i;
            rows[i] = moved;
            // The last row keeps a copy of the moved sequence's prefix; the retiring sequence's KV is overwritten.
            SetResident(last, moved.Tokens, moved.Length);
        }
        else SetResident(i, seq.Tokens, seq.Length);
        rows[last] = null;
        DecodeCount--;
    }

    /// <summary>After a failed decode run: every decode row is free and keeps nothing (the run may have half-written it).</summary>
    public void DropDecodeRows()
    {
        for (int i = DecodeCount - 1; i >= 0; i--)
        {
            rows[i]!.Row = -1;
            rows[i] = null;
            residentTokens[i] = null;
        }
        DecodeCount = 0;
    }

    /// <summary>Every row free (the engine failed everything in flight).</summary>
    public void Clear()
    {
        Array.Clear(rows);
        DecodeCount = 0;
    }

    void SetResident(int row, int[]? tokens, int length)
    {
        residentTokens[row] = length > 0 && keepResident ? tokens : null;
        residentLength[row] = length;
    }

    /// <summary>The first free row above <paramref name="row"/>.</summary>
    public int FreeRowAbove(int row)
    {
        for (int r = row + 1; r < rows.Length; r++)
            if (rows[r] is null) return r;
        throw new InvalidOperationException("no free row for a forked sequence (rows are reserved at admission)");
    }

    /// <summary>Moves a sequence's KV to <paramref name="target"/> (a free row at or above DecodeCount) if it is elsewhere.</summary>
    public void MoveToRow(Sequence seq, int target)
    {
        if (seq.Row == target) return;
        Debug.Assert(seq.Row > target && rows[target] is null);
        runner.CopyRow(seq.Row, target, seq.Length);
        rows[seq.Row] = null;
        SetResident(seq.Row, seq.Tokens, seq.Length);
        SetResident(target, null, 0);
        seq.Row = target;
        rows[target] = seq;
    }

    /// <summary>Frees a sequence's row, which keeps its KV as resident.</summary>
    public void FreeRow(Sequence seq)
    {
        if (seq.Row >= 0 && rows[seq.Row] == seq)
        {
            rows[seq.Row] = null;
            SetResident(seq.Row, seq.Tokens, seq.Length);
        }
        seq.Row = -1;
    }

    /// <summary>Frees the row after a failed run: its KV may be half-written, so it is not kept as resident.</summary>
    public void DropRow(Sequence seq)
    {
        int row = seq.Row;
        FreeRow(seq);
        if (row >= 0) SetResident(row, null, 0);
    }

    /// <summary>Longest common prefix (capped one short of the prompt) between the prompt and any free row's resident KV.</summary>
    public int BestResidentRow(Sequence seq, out int bestRow)
    {
        bestRow = -1;
        int best = 0;
        var prompt = seq.Request.PromptTokens.AsSpan(0, seq.PromptLength - 1);
        for (int r = DecodeCount; r < rows.Length; r++)
        {
            if (rows[r] is not null || residentTokens[r] is not { } resident) continue;
            int lcp = prompt.CommonPrefixLength(resident.AsSpan(0, residentLength[r]));
            if (lcp > best || (lcp == best && lcp > 0 && r == DecodeCount))
            {
                best = lcp;
                bestRow = r;
            }
        }
        return best;
    }

    /// <summary>Snapshot for tests: which rows hold a sequence (by request id).</summary>
    public long[] Owners()
    {
        var owners = new long[rows.Length];
        for (int i = 0; i < rows.Length; i++) owners[i] = rows[i]?.Request.Id ?? 0;
        return owners;
    }
}
