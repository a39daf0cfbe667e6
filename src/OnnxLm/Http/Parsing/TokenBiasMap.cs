namespace OnnxLm.Http.Parsing;

/// <summary>
/// <c>logit_bias</c>: JSON object keys are token ids (decimal integers), values are biases, kept in document order.
/// A repeated key keeps both entries; the consumer applies them in order, so the last one wins.
/// </summary>
public sealed class TokenBiasMap
{
    KeyValuePair<int, float>[] entries = [];
    int count;

    public int Count => count;

    /// <summary>True when the JSON had the object (possibly empty); false when absent or null.</summary>
    public bool IsPresent { get; private set; }

    public KeyValuePair<int, float> this[int index] => (uint)index < (uint)count ? entries[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<KeyValuePair<int, float>> AsSpan() => entries.AsSpan(0, count);

    public void MarkPresent() => IsPresent = true;

    public void Add(int token, float bias)
    {
        if (count == entries.Length) Array.Resize(ref entries, Math.Max(8, entries.Length * 2));
        entries[count++] = new(token, bias);
    }

    public void Clear()
    {
        count = 0;
        IsPresent = false;
    }
}
