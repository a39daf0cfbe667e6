namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>
/// One pooled write slot: a block's identity and its payload already in file order, copied on the engine thread so the
/// pool block can be evicted immediately. Owned by the queue between enqueue and write, by the free stack otherwise.
/// </summary>
internal sealed class SsdWriteBuffer(KvBlockLayout layout)
{
    public UInt128 Hash;
    public UInt128 Parent;
    public readonly int[] Tokens = new int[layout.BlockSize];
    public readonly byte[] Payload = GC.AllocateUninitializedArray<byte>((int)layout.BlockBytes);
}
