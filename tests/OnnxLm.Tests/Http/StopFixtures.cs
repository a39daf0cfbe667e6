namespace OnnxLm.Tests.Http;

/// <summary>Picks stop strings from a known greedy output so that stop matching is exercised across token boundaries.</summary>
internal static class StopFixtures
{
    /// <summary>
    /// A stop string made of the last two characters of one token's text and the first two of the following text, taken
    /// at the first boundary past the third token where both sides are long enough and contain no U+FFFD.
    /// </summary>
    public static string SpanningStop(string[] pieces)
    {
        string full = string.Concat(pieces);
        int offset = 0;
        for (int k = 0; k < pieces.Length - 1; k++)
        {
            offset += pieces[k].Length;
            if (k < 3 || pieces[k].Length == 0 || offset < 2 || full.Length - offset < 2) continue;
            string stop = full.Substring(offset - 2, 4);
            if (stop.Contains('\uFFFD', StringComparison.Ordinal) || char.IsSurrogate(stop[0]) || char.IsSurrogate(stop[^1])) continue;
            return stop;
        }
        throw new InvalidOperationException($"no usable token boundary in '{full}'");
    }
}
