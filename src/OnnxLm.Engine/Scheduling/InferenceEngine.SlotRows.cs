using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

public sealed partial class InferenceEngine
{
    /// <summary>Removes decode row <paramref name="i"/>, moving the last decode row into the hole.</summary>
    void RetireDecodeRow(int i)
    {
        var seq = rows[i]!;
        seq.Row = -1;
        int last = decodeCount - 1;
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
        decodeCount--;
    }

    void SetResident(int row, int[]? tokens, int length)
    {
        // Row affinity is the sequence-level half of the prefix cache: off together with it.
        residentTokens[row] = length > 0 && cache is not null ? tokens : null;
        residentLength[row] = length;
    }


    /// <summary>The first free row above <paramref name="row"/>.</summary>
    int FreeRowAbove(int row)
    {
        for (int r = row + 1; r < rows.Length; r++)
            if (rows[r] is null) return r;
        throw new InvalidOperationException("no free row for a forked sequence (rows are reserved at admission)");
    }

    /// <summary>Moves a sequence's KV to <paramref name="target"/> (a free row at or above decodeCount) if it is elsewhere.</summary>
    void MoveToRow(Sequence seq, int target)
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

    void FreeRow(Sequence seq)
    {
        if (seq.Row >= 0 && rows[seq.Row] == seq)
        {
            rows[seq.Row] = null;
            SetResident(seq.Row, seq.Tokens, seq.Length);
        }
        seq.Row = -1;
    }

    /// <summary>Frees the row after a failed run: its KV may be half-written, so it is not kept as resident.</summary>
    void DropRow(Sequence seq)
    {
        int row = seq.Row;
        FreeRow(seq);
        if (row >= 0) SetResident(row, null, 0);
    }

    /// <summary>Longest common prefix (capped one short of the prompt) between the prompt and any free row's resident KV.</summary>
    int BestResidentRow(Sequence seq, out int bestRow)
    {
        bestRow = -1;
        int best = 0;
        var prompt = seq.Request.PromptTokens.AsSpan(0, seq.PromptLength - 1);
        for (int r = decodeCount; r < rows.Length; r++)
        {
            if (rows[r] is not null || residentTokens[r] is not { } resident) continue;
            int lcp = prompt.CommonPrefixLength(resident.AsSpan(0, residentLength[r]));
            if (lcp > best || (lcp == best && lcp > 0 && r == decodeCount))
            {
                best = lcp;
                bestRow = r;
            }
        }
        return best;
    }

    /// <summary>Snapshot for tests: which rows hold a sequence (by request id).</summary>
    internal long[] RowOwners()
    {
        var owners = new long[rows.Length];
        for (int i = 0; i < rows.Length; i++) owners[i] = rows[i]?.Request.Id ?? 0;
        return owners;
    }
}
