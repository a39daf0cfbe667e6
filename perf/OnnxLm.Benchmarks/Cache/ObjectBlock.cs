namespace OnnxLm.Benchmarks.Cache;

/// <summary>One block as an object: the straightforward layout the generated struct-of-arrays table is measured against.</summary>
internal sealed class ObjectBlock(int blockSize)
{
    public UInt128 Hash;
    public ObjectBlock? Parent;
    public int RefCount;
    public int Children;
    public LinkedListNode<ObjectBlock>? Lru;
    public readonly int[] Tokens = new int[blockSize];
}
