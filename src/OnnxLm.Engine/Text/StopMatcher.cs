using System.Text;

namespace OnnxLm.Engine.Text;

/// <summary>
/// A request's stop strings, compiled once to UTF-8 (empty strings are ignored: they would stop before any text).
/// Immutable, so it can be shared; the per-request progress lives in <see cref="StopMatchState"/>.
/// Matching on UTF-8 bytes is exact on characters: both the text and the stop strings are valid UTF-8, and a UTF-8
/// lead byte never equals a continuation byte, so a byte match always starts and ends on character boundaries.
/// </summary>
public sealed class StopMatcher
{
    private readonly byte[][] stops;

    public StopMatcher(IEnumerable<string> stopStrings)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        var stops = new List<byte[]>();
        foreach (string stop in stopStrings)
        {
            ArgumentNullException.ThrowIfNull(stop, nameof(stopStrings));
            if (stop.Length > 0)
            {
                stops.Add(Encoding.UTF8.GetBytes(stop));
                MaxLength = Math.Max(MaxLength, stops[^1].Length);
            }
        }
        this.stops = [.. stops];
    }

    /// <summary>No stop strings: <see cref="StopMatchState.Process"/> passes text straight through.</summary>
    public static StopMatcher None { get; } = new([]);

    public int Count => stops.Length;

    /// <summary>Length in bytes of the longest stop string; a state holds back at most one byte less than this.</summary>
    public int MaxLength { get; }

    public ReadOnlySpan<byte> GetStop(int index) => stops[index];

    /// <summary>
    /// Where the stop string that completes first in <paramref name="text"/> starts, or -1. "First to complete" (earliest
    /// end, then earliest start on a tie such as "xyz" and "yz") is what a model generating one byte at a time would
    /// hit, so the cut does not depend on how the text was split into tokens or chunks.
    /// </summary>
    internal int FindFirstCompleted(ReadOnlySpan<byte> text, out int stopIndex)
    {
        int bestStart = -1;
        int bestEnd = int.MaxValue;
        stopIndex = -1;
        for (int i = 0; i < stops.Length; i++)
        {
            byte[] stop = stops[i];
            // Only a match that ends no later than the current best can win, so search just that far.
            ReadOnlySpan<byte> window = bestStart < 0 ? text : text[..bestEnd];
            int at = window.IndexOf(stop);
            if (at >= 0 && (at + stop.Length < bestEnd || at < bestStart))
            {
                bestStart = at;
                bestEnd = at + stop.Length;
                stopIndex = i;
            }
        }
        return bestStart;
    }

    /// <summary>
    /// Length of the longest suffix of <paramref name="text"/> that is a proper prefix of some stop string: text that
    /// may still turn into a stop string and so must not be emitted yet.
    /// </summary>
    internal int LongestPendingPrefix(ReadOnlySpan<byte> text)
    {
        // Trying start positions from the left finds the longest candidate first.
        for (int start = Math.Max(0, text.Length - (MaxLength - 1)); start < text.Length; start++)
        {
            ReadOnlySpan<byte> suffix = text[start..];
            foreach (byte[] stop in stops)
            {
                if (stop.Length > suffix.Length && stop.AsSpan().StartsWith(suffix))
                {
                    return suffix.Length;
                }
            }
        }
        return 0;
    }
}
