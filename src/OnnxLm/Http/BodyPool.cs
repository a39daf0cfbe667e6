namespace OnnxLm.Http;

/// <summary>
/// A small static pool of reusable request-body instances (the generated parsers reset them on every parse). Invariant:
/// an instance is either in exactly one slot or rented by exactly one request; a full pool drops returned instances and an
/// empty one creates new ones, so the pool bounds memory without ever blocking.
/// </summary>
internal static class BodyPool<T> where T : class, new()
{
    // Enough for the usual number of concurrently parsing handlers; beyond it, instances are simply garbage collected.
    static readonly T?[] Slots = new T?[Math.Max(8, Environment.ProcessorCount * 4)];

    public static T Rent()
    {
        var slots = Slots;
        for (int i = 0; i < slots.Length; i++)
        {
            // Interlocked.Exchange: two handlers racing for the same slot cannot both get its instance.
            var item = Interlocked.Exchange(ref slots[i], null);
            if (item is not null) return item;
        }
        return new T();
    }

    public static void Return(T item)
    {
        var slots = Slots;
        for (int i = 0; i < slots.Length; i++)
            if (Interlocked.CompareExchange(ref slots[i], item, null) is null) return;
    }
}
