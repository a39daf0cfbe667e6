namespace OnnxLm.Http.Parsing;

/// <summary>
/// "A string or an array of strings" (<c>stop</c>), or the text parts of a message: slices into the request buffer.
/// <see cref="Clear"/> keeps the array, so a reused list stops allocating once it has held its largest request.
/// </summary>
public sealed class Utf8SliceList
{
    Utf8Slice[] _items = [];
    int _count;

    public int Count => _count;

    /// <summary>True when the JSON had the value (a string or an array, possibly empty); false when absent or null.</summary>
    public bool IsPresent { get; private set; }

    /// <summary>True when the JSON had an array rather than a single string.</summary>
    public bool IsArray { get; private set; }

    public Utf8Slice this[int index] => (uint)index < (uint)_count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<Utf8Slice> AsSpan() => _items.AsSpan(0, _count);

    public void MarkPresent(bool isArray)
    {
        IsPresent = true;
        IsArray = isArray;
    }

    public void Add(Utf8Slice slice)
    {
        if (_count == _items.Length) Array.Resize(ref _items, Math.Max(4, _items.Length * 2));
        _items[_count++] = slice;
    }

    public void Clear()
    {
        _count = 0;
        IsPresent = false;
        IsArray = false;
    }
}
