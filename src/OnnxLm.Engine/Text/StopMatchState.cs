namespace OnnxLm.Engine.Text;

/// <summary>
/// One request's progress through its <see cref="StopMatcher"/>: feed it detokenized text as it arrives and send on only
/// what it returns. Invariants: no byte of a stop string, nor anything after the first one, is ever returned; the bytes
/// held back are the longest suffix of the text so far that could still begin a stop string (so fewer than
/// <see cref="StopMatcher.MaxLength"/>); concatenating all returned spans gives the text cut exactly before the stop
/// string that completes first, whatever the chunking (or all of it, after <see cref="Flush"/>). Reusable across requests; buffers only grow, so steady-state
/// calls allocate nothing.
/// </summary>
public sealed class StopMatchState
{
    private StopMatcher matcher;
    private byte[] held;
    private int heldLength;
    // Scratch for held + new text when something is held; returned spans may point into it.
    private byte[] work;

    public StopMatchState(StopMatcher matcher)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        this.matcher = matcher;
        held = new byte[Math.Max(matcher.MaxLength, 16)];
        work = new byte[Math.Max(matcher.MaxLength * 2, 64)];
        StopIndex = -1;
    }

    public StopMatcher Matcher => matcher;

    /// <summary>A stop string was found; further input is ignored.</summary>
    public bool IsStopped => StopIndex >= 0;

    /// <summary>Index in the matcher of the stop string that ended the text, or -1.</summary>
    public int StopIndex { get; private set; }

    /// <summary>Bytes currently held back as a possible stop-string prefix.</summary>
    public int HeldByteCount => heldLength;

    /// <summary>Starts a new request with the same stop strings.</summary>
    public void Reset() => Reset(matcher);

    /// <summary>Starts a new request with other stop strings (grows the hold-back buffer only if it must).</summary>
    public void Reset(StopMatcher matcher)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        this.matcher = matcher;
        if (held.Length < matcher.MaxLength)
        {
            held = new byte[matcher.MaxLength];
        }
        heldLength = 0;
        StopIndex = -1;
    }

    /// <summary>
    /// Consumes <paramref name="newText"/> (valid UTF-8). <paramref name="emit"/> is the text that is now safe to send,
    /// valid until the next call on this state (it may also point into <paramref name="newText"/>). Returns true when a
    /// stop string was found: <paramref name="emit"/> then ends exactly where it starts, and the request should end.
    /// </summary>
    public bool Process(ReadOnlySpan<byte> newText, out ReadOnlySpan<byte> emit)
    {
        if (StopIndex >= 0)
        {
            emit = default;
            return true;
        }
        if (matcher.Count == 0)
        {
            emit = newText;
            return false;
        }
        ReadOnlySpan<byte> text = newText;
        if (heldLength > 0)
        {
            int length = heldLength + newText.Length;
            if (length > work.Length)
            {
                work = new byte[Math.Max(length, work.Length * 2)];
            }
            held.AsSpan(0, heldLength).CopyTo(work);
            newText.CopyTo(work.AsSpan(heldLength));
            text = work.AsSpan(0, length);
        }
        // Everything before `text` was emitted only because no stop string could start there, and no stop string has
        // completed yet, so the first one to complete in `text` is the first one overall.
        int at = matcher.FindFirstCompleted(text, out int stopIndex);
        if (at >= 0)
        {
            StopIndex = stopIndex;
            heldLength = 0;
            emit = text[..at];
            return true;
        }
        int hold = matcher.LongestPendingPrefix(text);
        // `text` never aliases `_held` (it is newText or work), so this copy cannot clobber what it reads.
        text[^hold..].CopyTo(held);
        heldLength = hold;
        emit = text[..^hold];
        return false;
    }

    /// <summary>End of text: releases what was held back (it never became a stop string). Valid until the next call.</summary>
    public ReadOnlySpan<byte> Flush()
    {
        if (StopIndex >= 0)
        {
            return default;
        }
        int length = heldLength;
        heldLength = 0;
        return held.AsSpan(0, length);
    }
}
