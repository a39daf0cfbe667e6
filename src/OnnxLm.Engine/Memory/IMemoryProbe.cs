namespace OnnxLm.Engine.Memory;

/// <summary>Reads the machine's memory now; <see cref="SystemMemory"/> in production, a fixed or scripted one in tests.</summary>
public interface IMemoryProbe
{
    /// <summary>Null when this platform or sandbox gives no figure (then nothing is refused for lack of memory).</summary>
    MemorySnapshot? Read();
}
