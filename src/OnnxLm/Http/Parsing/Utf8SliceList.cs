namespace OnnxLm.Http.Parsing;

/// <summary>
/// "A string or an array of strings" (<c>stop</c>), or the text parts of a message: slices into the request buffer.
/// <see cref="Clear"/> keeps the array, so a reused list stops allocating once it has held its largest request.
/// </summary>
public sealed class Utf8SliceList
{
    Utf8Slice[] items = [];
    int count;

    public int Count => count;

    /// <summary>True when the JSON had the value (a string or an array, possibly empty); false when absent or null.</summary>
    public bool IsPresent { get; private set; }

    /// <summary>True when the JSON had an array rather than a single string.</summary>
    public bool IsArray { get; private set; }

    public Utf8Slice this[int index] => (uint)index < (uint)count ? items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<Utf8Slice> AsSpan() => items.AsSpan(0, count);

    public void MarkPresent(bool isArray)
    {
        IsPresent = true;
        IsArray = isArray;
    }

    public void Add(Utf8Slice slice)
    {
        if (count == items.Length) Array.Resize(ref items, Math.Max(4, items.Length * 2));
        items[count++] = slice;
    }

    public void Clear()
    {
        count = 0;
        IsPresent = false;
        IsArray = false;
    }
}
