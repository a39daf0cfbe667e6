namespace OnnxLm.Engine.Memory;

/// <summary>The machine's memory as one probe saw it: what there is (<see cref="TotalBytes"/>, the smaller of physical
/// memory and a cgroup limit) and what a process could take now without swapping (<see cref="AvailableBytes"/>).
/// <see cref="Source"/> names where the available figure came from, for the start-up log and refusals.</summary>
public readonly record struct MemorySnapshot(long TotalBytes, long AvailableBytes, string Source);
