namespace OnnxLm.Http.Parsing;

/// <summary>
/// <c>logit_bias</c>: JSON object keys are token ids (decimal integers), values are biases, kept in document order.
/// A repeated key keeps both entries; the consumer applies them in order, so the last one wins.
/// </summary>
public sealed class TokenBiasMap
{
    KeyValuePair<int, float>[] _entries = [];
    int _count;

    public int Count => _count;

    /// <summary>True when the JSON had the object (possibly empty); false when absent or null.</summary>
    public bool IsPresent { get; private set; }

    public KeyValuePair<int, float> this[int index] => (uint)index < (uint)_count ? _entries[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<KeyValuePair<int, float>> AsSpan() => _entries.AsSpan(0, _count);

    public void MarkPresent() => IsPresent = true;

    public void Add(int token, float bias)
    {
        if (_count == _entries.Length) Array.Resize(ref _entries, Math.Max(8, _entries.Length * 2));
        _entries[_count++] = new(token, bias);
    }

    public void Clear()
    {
        _count = 0;
        IsPresent = false;
    }
}
