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
    private StopMatcher _matcher;
    private byte[] _held;
    private int _heldLength;
    // Scratch for held + new text when something is held; returned spans may point into it.
    private byte[] _work;

    public StopMatchState(StopMatcher matcher)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        _matcher = matcher;
        _held = new byte[Math.Max(matcher.MaxLength, 16)];
        _work = new byte[Math.Max(matcher.MaxLength * 2, 64)];
        StopIndex = -1;
    }

    public StopMatcher Matcher => _matcher;

    /// <summary>A stop string was found; further input is ignored.</summary>
    public bool IsStopped => StopIndex >= 0;

    /// <summary>Index in the matcher of the stop string that ended the text, or -1.</summary>
    public int StopIndex { get; private set; }

    /// <summary>Bytes currently held back as a possible stop-string prefix.</summary>
    public int HeldByteCount => _heldLength;

    /// <summary>Starts a new request with the same stop strings.</summary>
    public void Reset() => Reset(_matcher);

    /// <summary>Starts a new request with other stop strings (grows the hold-back buffer only if it must).</summary>
    public void Reset(StopMatcher matcher)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        _matcher = matcher;
        if (_held.Length < matcher.MaxLength)
        {
            _held = new byte[matcher.MaxLength];
        }
        _heldLength = 0;
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
        if (_matcher.Count == 0)
        {
            emit = newText;
            return false;
        }
        ReadOnlySpan<byte> text = newText;
        if (_heldLength > 0)
        {
            int length = _heldLength + newText.Length;
            if (length > _work.Length)
            {
                _work = new byte[Math.Max(length, _work.Length * 2)];
            }
            _held.AsSpan(0, _heldLength).CopyTo(_work);
            newText.CopyTo(_work.AsSpan(_heldLength));
            text = _work.AsSpan(0, length);
        }
        // Everything before `text` was emitted only because no stop string could start there, and no stop string has
        // completed yet, so the first one to complete in `text` is the first one overall.
        int at = _matcher.FindFirstCompleted(text, out int stopIndex);
        if (at >= 0)
        {
            StopIndex = stopIndex;
            _heldLength = 0;
            emit = text[..at];
            return true;
        }
        int hold = _matcher.LongestPendingPrefix(text);
        // `text` never aliases `_held` (it is newText or _work), so this copy cannot clobber what it reads.
        text[^hold..].CopyTo(_held);
        _heldLength = hold;
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
        int length = _heldLength;
        _heldLength = 0;
        return _held.AsSpan(0, length);
    }
}
