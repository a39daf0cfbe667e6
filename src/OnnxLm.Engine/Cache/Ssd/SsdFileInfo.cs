namespace OnnxLm.Engine.Cache.Ssd;

/// <summary>One directory entry as the scan needs it: no FileInfo objects, no extra stat calls.</summary>
internal readonly record struct SsdFileInfo(string Name, long Length, DateTime LastWriteUtc);
