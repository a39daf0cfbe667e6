using OnnxLm.Engine.Memory;

namespace OnnxLm.Tests.Memory;

/// <summary>A memory probe whose figure the test sets: the machine "has" <see cref="Available"/> bytes free.</summary>
internal sealed class FixedMemory(long total, long available) : IMemoryProbe
{
    public long Total { get; set; } = total;
    public long Available { get; set; } = available;
    public int Reads { get; private set; }

    public MemorySnapshot? Read()
    {
        Reads++;
        return new MemorySnapshot(Total, Available, "test probe");
    }
}
