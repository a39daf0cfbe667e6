namespace OnnxLm.Engine;

/// <summary>
/// The slot rows as the prefix cache sees them: the KV geometry and the address of one (row, layer, K|V, kv head,
/// position) slab. The model runner implements it, so the cache copies KV in and out of rows without knowing the runner.
/// Implementations are called on the engine thread only; a pointer stays valid until the implementation is disposed.
/// </summary>
public unsafe interface ISlotRowMemory
{
    int Layers { get; }
    int KvHeads { get; }
    int HeadSize { get; }

    /// <summary>Bytes per KV element: 4 (float32) or 2 (float16).</summary>
    int KvElementSize { get; }

    /// <summary>The KV element type's name, for messages.</summary>
    string KvElementName { get; }

    /// <summary>First byte of <paramref name="kvHead"/>'s K (or V) at <paramref name="position"/> in <paramref name="row"/>.</summary>
    byte* SlabPointer(int row, int layer, bool value, int kvHead, int position);
}
