namespace OnnxLm.Http.Parsing;

/// <summary>
/// A list of reusable request objects: <see cref="Clear"/> keeps both the array and the item instances, so parsing the
/// next request into the same list allocates nothing once it has seen as many items. Items [0, Count) are live; items
/// past Count are parked instances waiting for <see cref="AddNew"/>, which hands them back uncleared (the parser resets them).
/// </summary>
public sealed class PooledList<T> where T : class, new()
{
    T?[] items = [];
    int count;

    public int Count => count;

    /// <summary>True when the JSON had the array (possibly empty); false when absent or null.</summary>
    public bool IsPresent { get; private set; }

    public T this[int index] => (uint)index < (uint)count ? items[index]! : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<T> AsSpan() => items.AsSpan(0, count)!;

    public void MarkPresent() => IsPresent = true;

    /// <summary>Appends a parked instance (or a new one while warming up) and returns it.</summary>
    public T AddNew()
    {
        if (count == items.Length) Array.Resize(ref items, Math.Max(4, items.Length * 2));
        var item = items[count] ??= new T();
        count++;
        return item;
    }

    public void Clear()
    {
        count = 0;
        IsPresent = false;
    }
}
